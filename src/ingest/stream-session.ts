/**
 * One live stream while its publisher is connected: the transcoder (through a TranscoderSupervisor, which
 * restarts it when it dies while the publisher is still there; each death is a discontinuity here), one
 * RenditionPackager per output, and the Publisher into the store.
 */
import {
  audioRenditionName,
  audioTrackIndex,
  buildTranscodeArgs,
  type FfmpegInput,
  type LadderOutput,
} from '../adapters/ffmpeg/args.js';
import { type SourceDescription, audioStreams, hasClosedCaptions } from '../adapters/ffmpeg/input-dump.js';
import type { StreamSettings } from '../config.js';
import {
  BoxParseError,
  type SegmentEntry,
  concat,
  objectName,
  resumeAbove,
  retention,
} from '../core/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RenderQueue } from '../queue/ports.js';
import type { EventBus, MediaEvent, MediaStore, StreamDirectory } from '../store/ports.js';
import { type PublishOp, Publisher } from './publisher.js';
import { RenditionPackager } from './rendition-packager.js';
import { TranscoderSupervisor } from './transcoder-supervisor.js';

export interface SessionDeps {
  store: { media: MediaStore; streams: StreamDirectory; events: EventBus };
  queue: RenderQueue;
  metrics: Metrics;
  log: Logger;
  ffmpegPath: string;
  /** Transcoder decoder threads (config decoderThreads). */
  decoderThreads?: number;
  /** Transcoder niceness (config transcoderNice). */
  transcoderNice?: number;
  /** Recycle the transcoder at an input keyframe once it is this old, s (config transcoderRecycleSec; 0: never). */
  transcoderRecycleSec?: number;
  publishBufferBytes: number;
  /** Called for every publish, with its latency (benchmarks). */
  onPublished?: (op: PublishOp, latencyMs: number) => void;
}

export interface SessionOptions {
  input: FfmpegInput;
  /** Source carries audio (an AAC rendition is made). */
  audio: boolean;
  /** Audio tracks of the source to package (default 1): renditions "audio", "audio-2", ... */
  audioTracks?: number;
  /** Restart ffmpeg with a discontinuity when it dies while the source is connected. Default true. */
  restartOnExit?: boolean;
  /**
   * Bytes every new transcoder gets first on stdin (RTMP: FLV header, metadata, decoder configurations), so a
   * restarted ffmpeg can decode what follows.
   */
  inputPreamble?: () => Uint8Array[];
  /**
   * The source delivers encoded CMAF, one track per rendition (DASH-IF CMAF ingest): no transcoder runs; each
   * track is added with addTrack() and its bytes fed with pushTrack(). The names are the renditions expected
   * (the stream's files wait for each); tracks not named here may still be added.
   */
  packagedTracks?: string[];
}

export class StreamSession {
  readonly settings: StreamSettings;
  readonly publisher: Publisher;
  private packagers = new Map<string, RenditionPackager>();
  private readonly transcoder: TranscoderSupervisor;
  private stopped = false;
  private marked = false;
  /** A re-publish of what the store lost is queued and not yet written. */
  private republishing = false;
  /** The current transcoder's input clock (observeInput). */
  private sourceClock: { firstTs?: number; zeroWallMs?: number } = {};
  /** During a recycle: the input clock of the next transcoder, whose input starts at the cut point. */
  private nextClock: { firstTs?: number; zeroWallMs?: number } | undefined;
  /** When start() ran: every rendition's numbering floor (packaged tracks are added later). */
  private startedAtMs = Date.now();
  /** Packaged tracks whose packager is being created. */
  private adding = new Map<string, Promise<RenditionPackager>>();
  private readonly log: Logger;
  /** Called when the session ends by itself (SRT caller left, source ended). */
  onEnded?: (reason: string) => void;
  /** Called once stop() has finished. */
  onStopped?: () => void;
  /** Output held while a publish is authorized (holdOutput). */
  private held: Array<[LadderOutput, Buffer]> | undefined;
  /** Called when ffmpeg has opened its input and described it (for an SRT listener: a caller connected). */
  onInputOpened?: () => void;

  constructor(
    readonly stream: string,
    settings: StreamSettings,
    private readonly deps: SessionDeps,
    private readonly options: SessionOptions,
  ) {
    this.settings = settings;
    this.log = deps.log.child({ stream });
    this.publisher = new Publisher(
      stream,
      this.log.child({ component: 'publisher' }),
      deps.metrics,
      deps.publishBufferBytes,
      {
        onPublished: (op, ms, result) => {
          if (op.kind !== 'meta') this.requestRender();
          if (op.kind === 'part' || op.kind === 'segment') this.announce(op);
          // The store lost the stream's settings, a description or an init (Redis restarted empty).
          if (op.kind === 'segment' && typeof result === 'number' && result < 0)
            this.republish('store lost it');
          deps.onPublished?.(op, ms);
        },
        onRecovered: () => this.republish('store reachable again'),
      },
    );
    this.transcoder = new TranscoderSupervisor(
      {
        stream,
        ffmpegPath: deps.ffmpegPath,
        nice: deps.transcoderNice,
        args: () => this.buildArgs(),
        metrics: deps.metrics,
        log: this.log,
        restartOnExit: options.restartOnExit,
        inputPreamble: options.inputPreamble,
        recycleAfterMs: (deps.transcoderRecycleSec ?? 0) * 1000,
      },
      {
        onSpawn: (recycled) => {
          this.sourceClock = (recycled && this.nextClock) || {};
          this.nextClock = undefined;
        },
        onOutput: (o, d) => this.onOutput(o, d),
        onSourceInfo: (info) => this.onSourceInfo(info),
        onExit: () => {
          for (const p of this.packagers.values()) p.discontinuity();
        },
        onEnded: (reason) => this.onEnded?.(reason),
      },
    );
  }

  get ttls() {
    return retention(this.settings).ttls;
  }

  get transcoderPid(): number | undefined {
    return this.transcoder.pid;
  }

  async start(): Promise<void> {
    // One instant for every rendition: a fresh stream's renditions start at the same clock floor.
    this.startedAtMs = Date.now();
    if (this.options.packagedTracks) return;
    const { outputs } = this.buildArgs();
    for (const o of outputs) await this.createPackager(o.rendition, o.kind);
    this.transcoder.start();
  }

  /**
   * Packaged input (options.packagedTracks): a CMAF track for `rendition` is arriving. Creates its packager once
   * (numbering resumed from the store); later calls return the same. `alignedKeyframes` false: the encoder's
   * sync samples decide where segments end (the first sync sample at or after the segment target).
   */
  async addTrack(rendition: string, kind: 'video' | 'audio'): Promise<RenditionPackager> {
    const have = this.packagers.get(rendition);
    if (have) return have;
    let pending = this.adding.get(rendition);
    if (!pending) {
      pending = this.createPackager(rendition, kind, false).then((p) => {
        this.adding.delete(rendition);
        // A track the stream was marked live without: list it in the stored settings.
        if (this.marked) this.markLive(true);
        return p;
      });
      this.adding.set(rendition, pending);
    }
    return pending;
  }

  /** Packaged input: bytes of one track's CMAF (init, then moof+mdat groups), received now. */
  pushTrack(rendition: string, data: Uint8Array): void {
    const p = this.packagers.get(rendition);
    if (!p || this.stopped) return;
    p.push(data, Date.now());
  }

  /**
   * Packaged input: the track's media time jumps (a sender restarted, another sender took over out of line):
   * close what is open; the next bytes must start with an init segment (published under a new init id).
   */
  trackDiscontinuity(rendition: string): void {
    this.packagers.get(rendition)?.discontinuity();
  }

  private async createPackager(
    rendition: string,
    kind: 'video' | 'audio',
    aligned = true,
  ): Promise<RenditionPackager> {
    const ttls = this.ttls;
    const nowMs = this.startedAtMs;
    {
      const o = { rendition, kind };
      const rung = this.settings.ladder.find((r) => r.name === o.rendition);
      const stored = await this.deps.store.media
        .readResume(this.stream, o.rendition)
        .catch((err: unknown) => {
          this.log.error(
            { err, rendition: o.rendition },
            'could not read sequence numbers from Redis; refusing to start numbering from 0',
          );
          throw err;
        });
      if (stored.resumed) await this.sealOrphan(o.rendition);
      // No stored counters (a new stream, or a store that lost them): start above every number ever issued.
      const resume = resumeAbove(stored, nowMs, this.settings.segmentSec);
      const packager = new RenditionPackager(
        this.stream,
        {
          name: o.rendition,
          kind: o.kind,
          order:
            o.kind === 'audio'
              ? 100 + audioTrackIndex(o.rendition)
              : rung
                ? this.settings.ladder.indexOf(rung)
                : this.packagers.size,
          nominalBitrate:
            o.kind === 'audio' ? this.settings.audioBitrateK * 1000 : (rung?.videoBitrateK ?? 5000) * 1000,
          alignedKeyframes: o.kind === 'audio' || (aligned && !rung?.passthrough),
          // An external encoder's frame rate is its own (not the settings'): not stated.
          frameRate: o.kind === 'video' && aligned ? this.settings.fps : undefined,
        },
        { ...this.settings, ttls, segmentsKept: retention(this.settings).segmentsKept },
        this.deps.store.media,
        this.publisher,
        resume,
        this.log.child({ rendition: o.rendition }),
      );
      packager.onFirstInit = () => this.markLive();
      this.packagers.set(o.rendition, packager);
      return packager;
    }
  }

  /**
   * A media timestamp of the source (ms on its own clock) and when it arrived here, for inputs that carry them
   * (RTMP tags). The first one after a transcoder starts is that transcoder's output time 0; the earliest
   * arrival seen, counted back by the timestamp, is when output time 0 left the encoder: the capture clock that
   * anchors PROGRAM-DATE-TIME and the DASH period, instead of the (later, burstier) arrival of ffmpeg's output.
   */
  observeInput(tsMs: number, arrivalMs: number): void {
    const c = this.nextClock ?? this.sourceClock;
    if (c.firstTs === undefined) c.firstTs = tsMs;
    const zero = arrivalMs - (tsMs - c.firstTs);
    if (c.zeroWallMs === undefined || zero < c.zeroWallMs) c.zeroWallMs = zero;
  }

  /** Source bytes for stdin inputs (FLV from RTMP). Returns false when ffmpeg is saturated. */
  write(data: Uint8Array): boolean {
    return this.transcoder.write(data);
  }

  /** Waits until ffmpeg's stdin drains (backpressure to the RTMP socket). */
  onceDrain(cb: () => void): void {
    this.transcoder.onceDrain(cb);
  }

  /**
   * The source's next bytes start at an input video keyframe (a new transcoder can begin there after the
   * preamble). A transcoder older than transcoderRecycleSec is recycled here (decision 021). Call it before the
   * keyframe's observeInput() and write(). Returns whether a recycle began.
   */
  keyframe(): boolean {
    if (!this.transcoder.cutPoint()) return false;
    this.nextClock = {};
    return true;
  }

  /** Kills the transcoder (tests; operators' `kill`): it is restarted with a discontinuity. */
  killTranscoder(): void {
    this.transcoder.kill();
  }

  /** The publisher is gone: let ffmpeg flush, close the open segments, write everything out. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.info({ reason }, 'stream session stopping');
    try {
      await this.transcoder.stop();
      for (const p of this.packagers.values()) p.end();
      await this.publisher.idle(10_000);
      if (this.marked) {
        // Idle, not ended: players keep the live playlist and carry on through a reconnect's discontinuity.
        await this.deps.store.streams
          .mark(this.stream, this.storedSettings(), 'idle', Date.now())
          .catch(() => undefined);
        this.requestRender();
      }
      this.publisher.close();
    } finally {
      this.onStopped?.();
    }
  }

  private buildArgs() {
    return buildTranscodeArgs({
      input: this.options.input,
      ladder: this.settings.ladder,
      audio: this.options.audio,
      audioTracks: this.options.audioTracks,
      audioBitrateK: this.settings.audioBitrateK,
      segmentSec: this.settings.segmentSec,
      partSec: this.settings.partSec,
      fps: this.settings.fps,
      decoderThreads: this.deps.decoderThreads,
    });
  }

  /**
   * What ffmpeg found in the source: each audio rendition gets its track's language tag, the video renditions
   * whether the source's video carries CEA-608/708 captions (x264 keeps them: its a53cc option is on by default)
   * and the video stream's language tag for them. Arrives before the first init segment; a change after it
   * (a restarted transcoder reading a different source) re-describes the renditions.
   */
  private onSourceInfo(info: SourceDescription): void {
    this.onInputOpened?.();
    const input = this.options.input.kind === 'lavfi' && this.options.input.audio ? 1 : 0;
    const audio = audioStreams(info, input);
    const video = info.streams.find((s) => s.input === 0 && s.kind === 'video');
    const captions = hasClosedCaptions(info);
    this.log.info(
      {
        audioTracks: audio.map((a) => a.language ?? 'und'),
        closedCaptions: captions,
        packaged: this.options.audio ? Math.max(1, this.options.audioTracks ?? 1) : 0,
      },
      'source streams',
    );
    const configured = this.options.audio ? Math.max(1, this.options.audioTracks ?? 1) : 0;
    if (audio.length < configured)
      this.log.error(
        { configured, sourceAudioTracks: audio.length },
        'the source has fewer audio tracks than ingest.audioTracks; ffmpeg cannot map the missing ones and stops',
      );
    if (this.options.audio && audio.length > Math.max(1, this.options.audioTracks ?? 1))
      this.log.info(
        { sourceAudioTracks: audio.length },
        'the source has more audio tracks than configured (ingest.audioTracks); the rest are not packaged',
      );
    for (const p of this.packagers.values()) {
      if (p.spec.kind === 'video') p.describe({ closedCaptions: captions, language: video?.language });
      else {
        const i = audio.findIndex((_, k) => audioRenditionName(k) === p.spec.name);
        p.describe({ language: i >= 0 ? audio[i]!.language : undefined });
      }
    }
  }

  /** Holds ffmpeg's output (nothing is packaged or stored) until releaseOutput(): a publish being authorized. */
  holdOutput(): void {
    this.held ??= [];
  }

  /** Packages the output held since holdOutput(), then lets output through. */
  releaseOutput(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const [o, data] of held) this.onOutput(o, data);
  }

  private onOutput(o: LadderOutput, data: Buffer): void {
    if (this.held) {
      this.held.push([o, data]);
      return;
    }
    const p = this.packagers.get(o.rendition);
    if (!p) return;
    try {
      p.push(data, Date.now(), this.sourceClock.zeroWallMs);
    } catch (err) {
      // Corrupt output: this process's stream can no longer be trusted; restart it with a discontinuity.
      this.log.error(
        { err, rendition: o.rendition, box: err instanceof BoxParseError ? err.boxType : undefined },
        'malformed CMAF from ffmpeg; restarting the transcoder',
      );
      this.transcoder.kill();
    }
  }

  private markLive(again = false): void {
    if (this.marked && !again) return;
    this.marked = true;
    this.publisher.enqueue({
      kind: 'meta',
      rendition: '',
      bytes: 0,
      readyAt: performance.now(),
      run: () => this.deps.store.streams.mark(this.stream, this.storedSettings(), 'live', Date.now()),
    });
  }

  /**
   * The store may have lost what the stream needs (Redis restarted without persistence) while this session goes
   * on: mark it live with its settings again and write each rendition's current init segment, ahead of the
   * media waiting to be written. The timelines keep their numbers, so nothing already published is named again.
   */
  private republish(reason: string): void {
    if (!this.marked || this.stopped || this.republishing) return;
    this.republishing = true;
    this.log.warn({ reason }, 're-publishing the stream settings and init segments');
    for (const p of this.packagers.values()) p.republishInit();
    this.publisher.enqueue(
      {
        kind: 'meta',
        rendition: '',
        bytes: 0,
        readyAt: performance.now(),
        run: async () => {
          await this.deps.store.streams.mark(this.stream, this.storedSettings(), 'live', Date.now());
          this.republishing = false;
        },
      },
      true,
    );
  }

  private storedSettings() {
    const s = this.settings;
    return {
      segmentSec: s.segmentSec,
      partSec: s.partSec,
      windowSec: s.windowSec,
      dvrWindowSec: s.dvrWindowSec,
      hotDvrWindowSec: s.hotDvrWindowSec,
      // Every output has its packager from start(), before any init can mark the stream live.
      // Packaged input: also the tracks expected but not yet arrived.
      renditions: [...new Set([...(this.options.packagedTracks ?? []), ...this.packagers.keys()])],
    };
  }

  /** Tells readers a part or segment is readable (wakes preload-hint and in-progress segment requests). */
  private announce(op: PublishOp): void {
    const ev: MediaEvent =
      op.kind === 'part'
        ? { t: 'part', s: this.stream, r: op.rendition, msn: op.msn!, i: op.partIndex! }
        : { t: 'seg', s: this.stream, r: op.rendition, msn: op.msn! };
    this.deps.store.events.publish(ev).catch(() => undefined);
  }

  private requestRender(): void {
    this.deps.queue.requestRender(this.stream).catch((err: unknown) => {
      this.deps.metrics.redisErrors.inc({ component: 'queue' });
      this.log.debug({ err }, 'could not enqueue a manifest job');
    });
  }

  /**
   * A previous ingest died with a segment open: its parts are in Redis but the segment is not. Seal it from
   * its parts so nothing already published is lost, or leave it if some parts have expired.
   */
  private async sealOrphan(rendition: string): Promise<void> {
    const store = this.deps.store.media;
    const open: SegmentEntry | undefined = await store.getOpenEntry(this.stream, rendition);
    if (!open || open.parts.length === 0) return;
    const bytes = await Promise.all(
      open.parts.map((p) => store.getObject(this.stream, rendition, objectName.part(p.msn, p.index))),
    );
    if (bytes.some((b) => b === null)) {
      this.log.warn({ rendition, msn: open.msn }, 'orphaned open segment has expired parts; dropping it');
      return;
    }
    const seg: SegmentEntry = {
      ...open,
      durationTicks: open.parts.reduce((n, p) => n + p.durationTicks, 0),
      byteLength: bytes.reduce((n, b) => n + b!.length, 0),
    };
    const kept = retention(this.settings);
    await store.publishSegment(this.stream, rendition, seg, concat(bytes as Buffer[]), {
      segmentSec: kept.ttls.segmentSec,
      initSec: kept.ttls.initSec,
      keepSegments: kept.segmentsKept,
      keepPartsSegments: kept.partSegmentsKept,
    });
    this.log.info(
      { rendition, msn: open.msn, parts: open.parts.length },
      'sealed the segment a previous ingest left open',
    );
  }
}
