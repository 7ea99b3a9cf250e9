/**
 * Scenario fixtures: a synthetic stream of CMAF chunk descriptions fed through the real Timeline, and turned into
 * the input of the production renderer (renderManifestSet). Used by the golden and parse-back tests and the core
 * benchmark. Nothing here renders.
 */
import {
  type ChunkInfo,
  type ManifestFile,
  type PartEntry,
  type SegmentEntry,
  type WindowSettings,
  retention,
  type ManifestSetInput,
  type RenditionDescription,
  type TimelineSnapshot,
  Timeline,
  newestEndWallClockMs,
  renderManifestSet,
} from '../../src/core/index.js';
import type { MediaStore } from '../../src/store/ports.js';

export interface ScenarioRendition {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channelCount?: number;
  /** Audio: the track's language; video: its captions' language (RenditionDescription.language). */
  language?: string;
  /** Video: carries CEA-608 captions (true), none (false), not examined (absent). */
  closedCaptions?: boolean;
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

/** One rendition's chunks pushed into a real Timeline, one at a time. */
function feeder(sc: Scenario, r: ScenarioRendition): { tl: Timeline; push(i: number): void } {
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
  return {
    tl,
    push(i: number): void {
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
      sinceStart++;
    },
  };
}

/**
 * The scenario as it unfolds: chunk i of every rendition in turn, yielding every rendition's snapshot after each
 * chunk, and once more after the end if the scenario ends.
 */
export function* scenarioSteps(sc: Scenario): Generator<Map<string, TimelineSnapshot>> {
  const feeds = sc.renditions.map((r) => ({ r, f: feeder(sc, r) }));
  const count = Math.max(...sc.renditions.map((r) => r.chunks.count));
  const snap = () => new Map(feeds.map(({ r, f }) => [r.name, f.tl.snapshot()]));
  for (let i = 0; i < count; i++) {
    for (const { r, f } of feeds) {
      if (i >= r.chunks.count) continue;
      f.push(i);
      yield snap();
    }
  }
  if (sc.end) {
    for (const { f } of feeds) f.tl.end();
    yield snap();
  }
}

export function runScenario(sc: Scenario): Map<string, TimelineSnapshot> {
  const out = new Map<string, TimelineSnapshot>();
  for (const r of sc.renditions) {
    const f = feeder(sc, r);
    for (let i = 0; i < r.chunks.count; i++) f.push(i);
    if (sc.end) f.tl.end();
    out.set(r.name, f.tl.snapshot());
  }
  return out;
}

/** The ladder as the ingest would describe it (nominal bitrate 0: every fixture has measured segments). */
export function describeRenditions(sc: Scenario): RenditionDescription[] {
  return sc.renditions.map((r, order) => ({
    name: r.name,
    kind: r.kind,
    codec: r.codec,
    timescale: r.timescale,
    width: r.width,
    height: r.height,
    frameRate: r.frameRate,
    sampleRate: r.sampleRate,
    channelCount: r.channelCount,
    nominalBitrate: 0,
    segmentTargetTicks: (sc.segmentTargetMs * r.timescale) / 1000,
    partTargetTicks: (sc.partTargetMs * r.timescale) / 1000,
    order,
    ...(r.language !== undefined ? { language: r.language } : {}),
    ...(r.closedCaptions !== undefined ? { closedCaptions: r.closedCaptions } : {}),
  }));
}

/**
 * The production renderer's input for a scenario, rendered at `nowMs` (default: just after the newest part
 * landed, as a live render sees it). The scenario's timelines hold its DVR window; they serve as both the live
 * and the DVR timelines.
 */
export function scenarioInput(
  sc: Scenario,
  snaps: Map<string, TimelineSnapshot> = runScenario(sc),
  nowMs: number = newestMediaEndMs(snaps),
): ManifestSetInput {
  return {
    renditions: describeRenditions(sc),
    settings: {
      segmentSec: sc.segmentTargetMs / 1000,
      partSec: sc.partTargetMs / 1000,
      windowSec: sc.windowMs / 1000,
      dvrWindowSec: sc.dvrWindowMs / 1000,
    },
    live: snaps,
    dvr: snaps,
    nowMs,
    options: { utcTimingUrl: '/time' },
  };
}

/** Every manifest of a scenario as the production renderer names them (manifestName), by name. */
export function renderScenario(
  sc: Scenario,
  snaps: Map<string, TimelineSnapshot> = runScenario(sc),
  nowMs?: number,
): Map<string, ManifestFile> {
  return new Map(renderManifestSet(scenarioInput(sc, snaps, nowMs)).map((f) => [f.name, f]));
}

/** Wall-clock end of the newest media across the renditions (what a live render sees as "now"). */
export function newestMediaEndMs(snaps: Map<string, TimelineSnapshot>): number {
  return Math.round(Math.max(...[...snaps.values()].map((s) => newestEndWallClockMs(s) ?? 0)));
}

/**
 * Publishes one rendition's media through a MediaStore the way the ingest does: parts into the open segment, then
 * the segment, with the TTLs and retention the settings give. Parts last partTargetTicks each; a segment has
 * `partsPerSegment` of them and starts with an independent part.
 */
export class StoreFeed {
  private parts: PartEntry[] = [];
  private readonly kept;

  constructor(
    private readonly media: MediaStore,
    private readonly stream: string,
    private readonly r: RenditionDescription,
    private readonly o: { settings: WindowSettings; wallClockStartMs: number; partsPerSegment: number },
  ) {
    this.kept = retention(o.settings);
  }

  private open(msn: number): SegmentEntry {
    const segmentTicks = this.r.partTargetTicks * this.o.partsPerSegment;
    return {
      msn,
      discontinuitySeq: 0,
      discontinuity: false,
      initId: 0,
      startTicks: msn * segmentTicks,
      durationTicks: this.parts.length * this.r.partTargetTicks,
      independent: true,
      byteLength: this.parts.reduce((n, p) => n + p.byteLength, 0),
      wallClockMs: this.o.wallClockStartMs + (msn * segmentTicks * 1000) / this.r.timescale,
      periodStartTicks: 0,
      periodWallClockMs: this.o.wallClockStartMs,
      parts: [...this.parts],
    };
  }

  async init(): Promise<void> {
    await this.media.publishInit(this.stream, this.r, 0, new Uint8Array([1, 2, 3]), this.kept.ttls.initSec);
  }

  /** The next part of segment `msn`; returns the stream version. */
  async part(msn: number): Promise<number> {
    const index = this.parts.length;
    const part: PartEntry = {
      msn,
      index,
      startTicks: msn * this.r.partTargetTicks * this.o.partsPerSegment + index * this.r.partTargetTicks,
      durationTicks: this.r.partTargetTicks,
      independent: index === 0,
      byteLength: 1000 + index,
    };
    this.parts.push(part);
    return this.media.publishPart(this.stream, this.r.name, part, this.open(msn), new Uint8Array(10), {
      partSec: this.kept.ttls.partSec,
      openSec: this.kept.ttls.openSec,
    });
  }

  /** Completes segment `msn` (publishing its missing parts first); returns the stream version. */
  async segment(msn: number, withParts = true): Promise<number> {
    while (withParts && this.parts.length < this.o.partsPerSegment) await this.part(msn);
    const seg = this.open(msn);
    if (!withParts) {
      seg.durationTicks = this.r.partTargetTicks * this.o.partsPerSegment;
      seg.byteLength = 1000 * this.o.partsPerSegment;
    }
    this.parts = [];
    return this.media.publishSegment(this.stream, this.r.name, seg, new Uint8Array(40), {
      segmentSec: this.kept.ttls.segmentSec,
      initSec: this.kept.ttls.initSec,
      keepSegments: this.kept.segmentsKept,
      keepPartsSegments: this.kept.partSegmentsKept,
    });
  }
}
