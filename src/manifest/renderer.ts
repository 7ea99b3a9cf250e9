/**
 * The manifest worker's I/O around the pure renderManifestSet (src/core/manifest): reads a stream's state and
 * timelines from the store, renders the files a change touched, stores each with the version it was rendered
 * from (never over a newer one) and announces the stream's newest positions.
 */
import {
  manifestDependencies,
  manifestName,
  manifestPositions,
  renderManifestSet,
  retention,
  type TimelineSnapshot,
} from '../core/index.js';
import type {
  EventBus,
  ManifestEvent,
  ManifestStore,
  ManifestWrite,
  MediaStore,
  StreamDirectory,
} from '../store/ports.js';

/** The newest position of each rendition, as the reader's blocking reloads compare them. */
export type Positions = ManifestEvent['pos'];

export interface RendererPorts {
  media: MediaStore;
  manifests: ManifestStore;
  streams: StreamDirectory;
  events: EventBus;
}

export interface RenderOptions {
  utcTimingUrl: string;
  targetLatencyMs: number;
  /** Stored manifests outlive an idle stream by this long. */
  manifestTtlSec: number;
  /**
   * Whether this worker renders and stores each rendition's dvr.m3u8 (from the Redis timeline, once per segment).
   * Only when the readers serve that stored copy: with a cold tier they render it themselves from the archive
   * (config dvrPlaylistRenderer, asked by both roles; decision 014). Default true.
   */
  dvrPlaylists?: boolean;
}

export interface RenderResult {
  version: number;
  stored: number;
  refused: number;
  /** Files not rendered because nothing they depend on changed since this renderer last stored them. */
  skipped: number;
  positions: Positions;
}

export const MANIFEST_TTL_SEC = 6 * 3600;

/** Streams whose last render is remembered; the oldest is forgotten beyond this (it then renders everything). */
const MEMO_STREAMS = 10_000;

export class ManifestRenderer {
  /**
   * Per stream, the dependency key (manifestDependencies) of each file this renderer last stored, and when. A file
   * whose key is unchanged is skipped: the multivariant playlist, the MPDs and the DVR playlists then render once
   * per segment (or state change), not once per part, and a 24-hour DVR timeline is not even read.
   *
   * Skipping is safe with any number of workers: what this renderer stored for that key is what it would store
   * now (MPD@publishTime aside), and the store refuses older versions, so what is stored is that or newer. One
   * caveat: two inputs of a key can go back and forth (the LL MPD's keeps-up-with-the-clock flag, and a stream
   * that ends and is published again), so another worker may have stored a render from in between (say, the
   * lagging form) that this renderer's skip would leave in place. Hence a skipped file is still re-rendered once
   * its last render is a target duration old: such a leftover lasts at most that long (a segment completes about
   * as often, so this costs next to nothing). A renderer without a memo (new, restarted, or the stream forgotten)
   * renders everything. The memo is updated only once the store took the write.
   */
  private memo = new Map<string, Map<string, { key: string; atMs: number }>>();

  constructor(
    private readonly store: RendererPorts,
    private readonly o: RenderOptions,
  ) {}

  async render(stream: string, nowMs: number): Promise<RenderResult | undefined> {
    const state = await this.store.streams.readState(stream);
    if (!state.settings || state.renditions.length === 0) return undefined;
    const settings = state.settings;
    const kept = retention(settings);
    const { version, snaps } = await this.store.media.loadTimelines(
      stream,
      state,
      kept.liveSegmentsLoaded,
      kept.partSegmentsKept,
    );
    const options = { utcTimingUrl: this.o.utcTimingUrl, targetLatencyMs: this.o.targetLatencyMs };
    // Until every rendition the ingest announced has media, the multivariant playlist and the MPDs are not stored
    // (streamFileReady; the reader answers 404, cached 1 s). An ended stream has what it has.
    const expectedRenditions = state.state === 'ended' ? undefined : settings.renditions;
    const base = { renditions: state.renditions, settings, live: snaps, nowMs, options, expectedRenditions };
    // The lifecycle is not an input of the render, but a state change re-renders everything all the same.
    const dvrNames = new Set(state.renditions.map((r) => manifestName.dvr(r.name)));
    const deps = new Map(
      [...manifestDependencies(base)]
        .filter(([name]) => this.o.dvrPlaylists !== false || !dvrNames.has(name))
        .map(([name, key]) => [name, `${state.state}|${key}`] as const),
    );
    const last = this.memo.get(stream);
    const only = new Set<string>();
    for (const r of state.renditions) {
      only.add(manifestName.media(r.name));
      only.add(manifestName.mediaSkip(r.name));
    }
    const refreshMs = kept.targetDurationSec * 1000;
    for (const [name, key] of deps) {
      const m = last?.get(name);
      if (!m || m.key !== key || nowMs - m.atMs >= refreshMs) only.add(name);
    }

    // The DVR timelines of every rendition whose DVR playlist renders, in one read.
    const dvrRenditions = state.renditions.filter((r) => only.has(manifestName.dvr(r.name)));
    let dvr = new Map<string, TimelineSnapshot>();
    let dvrVersion = version;
    if (dvrRenditions.length > 0) {
      const loaded = await this.store.media.loadTimelines(
        stream,
        { ...state, renditions: dvrRenditions },
        kept.segmentsKept,
        0,
      );
      dvr = loaded.snaps;
      dvrVersion = loaded.version;
    }

    const files = renderManifestSet({ ...base, dvr, only });
    const writes: ManifestWrite[] = files.map((f) => ({
      name: f.name,
      version: f.versionSource.kind === 'dvr' ? dvrVersion : version,
      body: f.body,
      msn: f.msn,
      part: f.part,
      targetSec: f.targetSec,
      renderedAt: nowMs,
    }));
    const { stored, refused } = await this.store.manifests.store(stream, writes, this.o.manifestTtlSec);
    const memo = last ?? new Map<string, { key: string; atMs: number }>();
    for (const f of files) {
      const key = deps.get(f.name);
      if (key !== undefined) memo.set(f.name, { key, atMs: nowMs });
    }
    this.remember(stream, memo);
    const positions: Positions = manifestPositions(state.renditions, snaps);
    const event: ManifestEvent = { t: 'manifest', s: stream, v: version, pos: positions };
    await this.store.events.publish(event);
    return {
      version,
      stored,
      refused,
      skipped: deps.size - files.filter((f) => deps.has(f.name)).length,
      positions,
    };
  }

  private remember(stream: string, memo: Map<string, { key: string; atMs: number }>): void {
    this.memo.delete(stream);
    this.memo.set(stream, memo);
    if (this.memo.size > MEMO_STREAMS) this.memo.delete(this.memo.keys().next().value!);
  }
}
