/**
 * Scenario driver: a synthetic stream of CMAF chunk descriptions fed through the real Timeline, rendered with
 * the real renderers. Used by the golden manifest tests and the core benchmark.
 */
import {
  type ChunkInfo,
  type DashRendition,
  type RenditionSummary,
  type TimelineSnapshot,
  Timeline,
  buildMediaPlaylist,
  buildMpd,
  newestEndWallClockMs,
  buildMultivariant,
  lastPosition,
  marshalPlaylist,
  measureBitrate,
  renderMpd,
} from '../../src/core/index.js';

export interface ScenarioRendition {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channelCount?: number;
  timescale: number;
  /** Chunks: count, duration of each, a sync sample every N chunks (video), bytes per chunk. */
  chunks: { count: number; durationTicks: number; syncEvery?: number; bytes: number };
  /** Chunk indices before which a discontinuity happens; decode time restarts at 0 there. */
  discontinuitiesAt?: number[];
}

export interface Scenario {
  description: string;
  wallClockStartMs: number;
  segmentTargetMs: number;
  partTargetMs: number;
  windowMs: number;
  dvrWindowMs: number;
  eagerSegmentClose?: boolean;
  /** Stop the publisher at the end (EXT-X-ENDLIST / static MPD). */
  end?: boolean;
  /** Stop feeding after this many chunks (default: all). */
  renditions: ScenarioRendition[];
}

export function runScenario(sc: Scenario): Map<string, TimelineSnapshot> {
  const out = new Map<string, TimelineSnapshot>();
  for (const r of sc.renditions) {
    const ts = r.timescale;
    const tl = new Timeline({
      timescale: ts,
      segmentTargetTicks: (sc.segmentTargetMs * ts) / 1000,
      partTargetTicks: (sc.partTargetMs * ts) / 1000,
      dvrWindowTicks: (sc.dvrWindowMs * ts) / 1000,
      eagerSegmentClose: sc.eagerSegmentClose ?? false,
    });
    let decode = 0;
    let wall = sc.wallClockStartMs;
    let sinceStart = 0;
    for (let i = 0; i < r.chunks.count; i++, sinceStart++) {
      if (r.discontinuitiesAt?.includes(i)) {
        tl.discontinuity();
        decode = 0;
        sinceStart = 0;
        wall += 3000; // the encoder was away for three seconds; it restarts with a keyframe
      }
      const chunk: ChunkInfo = {
        trackId: 1,
        sequenceNumber: i + 1,
        baseMediaDecodeTime: decode,
        sampleCount: 1,
        durationTicks: r.chunks.durationTicks,
        startsWithSync: r.kind === 'audio' || sinceStart % (r.chunks.syncEvery ?? 1) === 0,
        byteLength: r.chunks.bytes + (i % 7) * 101,
      };
      tl.push(chunk, wall);
      decode += r.chunks.durationTicks;
      wall += (r.chunks.durationTicks * 1000) / ts;
    }
    if (sc.end) tl.end();
    out.set(r.name, tl.snapshot());
  }
  return out;
}

export function summaries(sc: Scenario, snaps: Map<string, TimelineSnapshot>): RenditionSummary[] {
  return sc.renditions.map((r) => {
    const rate = measureBitrate(snaps.get(r.name)!) ?? { peak: 0, average: 0 };
    return {
      name: r.name,
      kind: r.kind,
      codec: r.codec,
      uri: `${r.name}/index.m3u8`,
      peakBitrate: rate.peak,
      averageBitrate: rate.average,
      width: r.width,
      height: r.height,
      frameRate: r.frameRate,
      channelCount: r.channelCount,
    };
  });
}

export function renderMedia(
  sc: Scenario,
  snaps: Map<string, TimelineSnapshot>,
  name: string,
  lowLatency: boolean,
  skip = false,
): string {
  const snap = snaps.get(name)!;
  const reports = sc.renditions
    .filter((r) => r.name !== name)
    .map((r) => ({ uri: `../${r.name}/index.m3u8`, ...posOf(snaps.get(r.name)!) }));
  return marshalPlaylist(
    buildMediaPlaylist(snap, {
      windowTicks: (sc.windowMs * snap.timescale) / 1000,
      lowLatency,
      skip,
      renditionReports: reports,
    }),
  );
}

function posOf(s: TimelineSnapshot): { lastMsn: number; lastPart?: number } {
  const p = lastPosition(s);
  return p ? { lastMsn: p.msn, lastPart: p.part >= 0 ? p.part : undefined } : { lastMsn: 0 };
}

export function dashRenditions(sc: Scenario, snaps: Map<string, TimelineSnapshot>): DashRendition[] {
  const sums = summaries(sc, snaps);
  return sc.renditions.map((r, i) => ({
    name: r.name,
    kind: r.kind,
    codec: r.codec,
    bandwidth: sums[i]!.peakBitrate,
    width: r.width,
    height: r.height,
    frameRate: r.frameRate,
    sampleRate: r.sampleRate,
    channelCount: r.channelCount,
    snapshot: snaps.get(r.name)!,
  }));
}

export function renderScenarioMpd(
  sc: Scenario,
  snaps: Map<string, TimelineSnapshot>,
  lowLatency: boolean,
  publishTimeMs: number,
): string {
  return renderMpd(
    buildMpd(dashRenditions(sc, snaps), {
      publishTimeMs,
      windowMs: sc.windowMs,
      lowLatency,
      utcTimingUrl: '/time',
    }),
  );
}

/** Wall-clock end of the newest media across the renditions (what a live render sees as "now"). */
export function newestMediaEndMs(snaps: Map<string, TimelineSnapshot>): number {
  return Math.round(Math.max(...[...snaps.values()].map((s) => newestEndWallClockMs(s) ?? 0)));
}

/** Every manifest of a scenario, by file name. */
export function renderAll(sc: Scenario): Record<string, string> {
  const snaps = runScenario(sc);
  const files: Record<string, string> = {};
  files['master.m3u8'] = marshalPlaylist(buildMultivariant(summaries(sc, snaps)));
  for (const r of sc.renditions) {
    files[`${r.name}.m3u8`] = renderMedia(sc, snaps, r.name, false);
    files[`${r.name}.ll.m3u8`] = renderMedia(sc, snaps, r.name, true);
    files[`${r.name}.ll-skip.m3u8`] = renderMedia(sc, snaps, r.name, true, true);
  }
  const publish = sc.wallClockStartMs + 3_600_000;
  files['manifest.mpd'] = renderScenarioMpd(sc, snaps, false, publish);
  // The low-latency MPD as rendered live: just after the newest part landed.
  files['manifest.ll.mpd'] = renderScenarioMpd(sc, snaps, true, newestMediaEndMs(snaps));
  return files;
}
