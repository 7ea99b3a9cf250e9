/**
 * VOD packaging (issue #11): a media file (MP4/MOV/MKV) through ffmpeg into CMAF with the stream's ladder (or the
 * source video copied when it is H.264 and passthrough is asked for), read from ffmpeg's pipes by the same
 * CmafStreamReader the live path uses, cut into segments, written into the cold tier as an asset, and published
 * (manifests, then asset.json) only when ffmpeg has finished cleanly. Progress from ffmpeg's -progress output
 * against the probed duration.
 */
import type { Readable } from 'node:stream';
import { type LadderOutput, buildTranscodeArgs } from '../adapters/ffmpeg/args.js';
import { probeFile, type FileProbe } from '../adapters/ffmpeg/probe.js';
import { Transcoder, type FfmpegExitError } from '../adapters/ffmpeg/transcoder.js';
import type { Rung } from '../config.js';
import { CmafStreamReader, concat, type InitInfo, type ReaderEvent } from '../core/isobmff/index.js';
import type { RenditionDescription } from '../core/manifest/set.js';
import { objectName } from '../core/names/names.js';
import { type VodAsset, type VodSegment, assetDurationMs } from '../core/vod/asset.js';
import type { Logger } from '../log.js';
import { VodAssetExistsError, type VodAssets, VodWrites } from './assets.js';

/** How the video is made: the stream's ladder, the source copied, or copied when it is H.264 (auto). */
export type VideoMode = 'ladder' | 'passthrough' | 'auto';

export interface PackageSettings {
  ladder: Rung[];
  segmentSec: number;
  fps: number;
  audioBitrateK: number;
  mode: VideoMode;
  decoderThreads?: number;
}

export interface PackageProgress {
  /** 0..1 of the probed duration. */
  fraction: number;
  /** ffmpeg's speed, x real time. */
  speed: number;
  /** Seconds left at the speed so far (undefined before the first report). */
  etaSec: number | undefined;
  outTimeSec: number;
  durationSec: number;
}

export interface PackageResult {
  asset: VodAsset;
  durationSec: number;
  wallSec: number;
  /** Media seconds per wall second. */
  speedX: number;
  bytes: number;
  passthrough: boolean;
}

export interface PackageOptions {
  file: string;
  name: string;
  assets: VodAssets;
  settings: PackageSettings;
  ffmpegPath: string;
  log: Logger;
  onProgress?: (p: PackageProgress) => void;
  /** Source description in the asset (default: the file's base name). */
  sourceLabel?: string;
  /** Pending cold writes per rendition before ffmpeg's pipe is paused. */
  maxPendingWrites?: number;
}

/** A packaging that failed on its input (bad file, ffmpeg error): nothing was published. */
export class VodInputError extends Error {
  override readonly name = 'VodInputError';
}

interface Track {
  output: LadderOutput;
  reader: CmafStreamReader;
  init?: InitInfo;
  initBytes?: Uint8Array;
  /** Chunks of the segment being assembled. */
  pending: Array<Extract<ReaderEvent, { kind: 'chunk' }>>;
  pendingTicks: number;
  segments: VodSegment[];
  writes: Promise<void>;
  inFlight: number;
  rung?: Rung;
  failed?: Error;
}

export async function packageFile(o: PackageOptions): Promise<PackageResult> {
  const log = o.log.child({ component: 'vod', asset: o.name });
  const s = o.settings;
  if (await o.assets.exists(o.name)) throw new VodAssetExistsError(o.name);
  let probe: FileProbe;
  try {
    probe = await probeFile(o.file, o.ffmpegPath);
  } catch (err) {
    throw new VodInputError((err as Error).message);
  }
  if (!probe.videoCodec) throw new VodInputError('the file has no video stream');
  const passthrough = s.mode === 'passthrough' || (s.mode === 'auto' && probe.videoCodec === 'h264');
  if (passthrough && probe.videoCodec !== 'h264')
    throw new VodInputError(`passthrough needs H.264 video (the file has ${probe.videoCodec})`);
  const ladder: Rung[] = passthrough
    ? [
        {
          name: 'source',
          passthrough: true,
          preset: 'veryfast',
          profile: 'high',
          threads: 1,
        } as Rung,
      ]
    : s.ladder.filter((r) => !r.passthrough);
  if (ladder.length === 0) throw new VodInputError('the ladder has no rung to encode');
  const { args, outputs } = buildTranscodeArgs({
    input: { kind: 'file', path: o.file },
    ladder,
    audio: probe.audioCodec !== undefined,
    audioBitrateK: s.audioBitrateK,
    // One fragment per segment (video: at each keyframe, every segmentSec).
    segmentSec: s.segmentSec,
    partSec: s.segmentSec,
    fps: s.fps,
    decoderThreads: s.decoderThreads,
  });
  log.info(
    { file: o.sourceLabel ?? o.file, durationSec: probe.durationSec, video: probe.videoCodec, passthrough },
    'VOD packaging started',
  );
  const writes = new VodWrites();
  const startedAt = performance.now();
  const maxPending = o.maxPendingWrites ?? 4;
  const tracks = new Map<number, Track>();
  for (const out of outputs)
    tracks.set(out.fd, {
      output: out,
      reader: new CmafStreamReader(),
      pending: [],
      pendingTicks: 0,
      segments: [],
      writes: Promise.resolve(),
      inFlight: 0,
      rung: ladder.find((r) => r.name === out.rendition),
    });

  let transcoder: Transcoder | undefined;
  const pipeOf = (t: Track): Readable | null =>
    (transcoder?.child.stdio[t.output.fd] as Readable | null | undefined) ?? null;
  const write = (t: Track, path: string, bytes: Uint8Array): void => {
    t.inFlight++;
    if (t.inFlight >= maxPending) pipeOf(t)?.pause();
    t.writes = t.writes.then(async () => {
      try {
        if (!t.failed) await o.assets.putMedia(o.name, `${t.output.rendition}/${path}`, bytes, writes);
      } catch (err) {
        t.failed = err as Error;
        void transcoder?.stop(500);
      } finally {
        t.inFlight--;
        if (t.inFlight < maxPending) pipeOf(t)?.resume();
      }
    });
  };
  const closeSegment = (t: Track): void => {
    const first = t.pending[0];
    if (!first || !t.init) return;
    const msn = t.segments.length;
    const bytes = concat(t.pending.map((c) => c.bytes));
    t.segments.push({
      msn,
      discontinuitySeq: 0,
      discontinuity: false,
      initId: 0,
      startTicks: first.info.baseMediaDecodeTime,
      durationTicks: t.pendingTicks,
      independent: first.info.startsWithSync,
      byteLength: bytes.length,
      wallClockMs: 0,
      periodStartTicks: 0,
      periodWallClockMs: 0,
    });
    write(t, objectName.segment(msn), bytes);
    t.pending = [];
    t.pendingTicks = 0;
  };
  const onEvent = (t: Track, ev: ReaderEvent): void => {
    if (ev.kind === 'init') {
      t.init = ev.info;
      t.initBytes = ev.bytes;
      write(t, objectName.init(0), ev.bytes);
      return;
    }
    const target = s.segmentSec * (t.init?.timescale ?? 1);
    // A segment ends at a sync sample once it holds (nearly) a segment's duration: a fragment per keyframe
    // (shorter GOPs) is grouped, a fragment per segment (the default GOP, audio) is one segment.
    if (t.pending.length > 0 && ev.info.startsWithSync && t.pendingTicks >= target * 0.9) closeSegment(t);
    t.pending.push(ev);
    t.pendingTicks += ev.info.durationTicks;
  };

  let progressAt = 0;
  const exit = await new Promise<FfmpegExitError | undefined>((resolve) => {
    transcoder = new Transcoder(o.ffmpegPath, args, outputs, {
      onOutput(out, data) {
        const t = tracks.get(out.fd)!;
        if (t.failed) return;
        try {
          for (const ev of t.reader.push(data)) onEvent(t, ev);
        } catch (err) {
          t.failed = err as Error;
          void transcoder?.stop(500);
        }
      },
      onProgress(p) {
        const outTimeSec = Math.max(0, p.outTimeUs / 1e6);
        const fraction = Math.min(1, outTimeSec / probe.durationSec);
        const wall = (performance.now() - startedAt) / 1000;
        const speed = p.speed || (wall > 0 ? outTimeSec / wall : 0);
        const etaSec = speed > 0 ? Math.max(0, (probe.durationSec - outTimeSec) / speed) : undefined;
        o.onProgress?.({ fraction, speed, etaSec, outTimeSec, durationSec: probe.durationSec });
        if (performance.now() - progressAt > 5000) {
          progressAt = performance.now();
          log.info({ percent: Math.round(fraction * 100), speed }, 'VOD packaging progress');
        }
      },
      onExit: resolve,
    });
  });
  try {
    for (const t of tracks.values()) closeSegment(t);
    await Promise.all([...tracks.values()].map((t) => t.writes));
    const failed = [...tracks.values()].find((t) => t.failed)?.failed;
    if (failed) throw failed;
    if (exit) throw new VodInputError(`ffmpeg could not package the file: ${exit.message}`);
    const renditions = [...tracks.values()].map((t, i) => {
      if (!t.init || t.segments.length === 0)
        throw new VodInputError(`ffmpeg produced no media for ${t.output.rendition}`);
      return { description: describe(t, t.init, s, probe, i), segments: t.segments };
    });
    const asset: VodAsset = {
      name: o.name,
      createdAtMs: Date.now(),
      source: { kind: 'file', file: o.sourceLabel ?? o.file.split('/').pop()! },
      renditions,
      gaps: [],
      programDateTime: false,
    };
    // A truncated file that ffmpeg read to a premature end still exits 0: hold the media to the probed duration.
    const gotSec = assetDurationMs(asset) / 1000;
    if (gotSec < probe.durationSec - Math.max(2 * s.segmentSec, 0.1 * probe.durationSec))
      throw new VodInputError(
        `the file is truncated: ${gotSec.toFixed(1)} s of media of the ${probe.durationSec.toFixed(1)} s it claims`,
      );
    await o.assets.publish(asset, writes);
    const wallSec = (performance.now() - startedAt) / 1000;
    log.info(
      { durationSec: gotSec, wallSec, speedX: gotSec / wallSec, bytes: writes.bytes },
      'VOD asset published',
    );
    return {
      asset,
      durationSec: gotSec,
      wallSec,
      speedX: gotSec / wallSec,
      bytes: writes.bytes,
      passthrough,
    };
  } catch (err) {
    const removed = await o.assets.discard(writes).catch(() => 0);
    log.warn({ err: (err as Error).message, removed }, 'VOD packaging failed: nothing published');
    throw err;
  }
}

function describe(
  t: Track,
  init: InitInfo,
  s: PackageSettings,
  probe: FileProbe,
  order: number,
): RenditionDescription {
  const kbps = t.output.kind === 'audio' ? s.audioBitrateK : (t.rung?.videoBitrateK ?? 5000);
  return {
    name: t.output.rendition,
    kind: init.kind,
    codec: init.codec,
    timescale: init.timescale,
    width: init.width,
    height: init.height,
    frameRate: init.kind === 'video' ? (t.rung?.passthrough ? probe.frameRate : s.fps) : undefined,
    sampleRate: init.sampleRate,
    channelCount: init.channelCount,
    nominalBitrate: kbps * 1000,
    segmentTargetTicks: Math.round(s.segmentSec * init.timescale),
    partTargetTicks: Math.round(s.segmentSec * init.timescale),
    order,
  };
}
