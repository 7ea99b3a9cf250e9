/**
 * Renders all of a stream's manifests from its timeline in Redis: the multivariant playlist, each rendition's
 * LL-HLS media playlist (full and _HLS_skip delta), a DVR playlist, and the MPD (classic and low-latency).
 * Stores each with the version it was rendered from (never over a newer one) and announces what changed.
 */
import {
  type DashRendition,
  type RenditionSummary,
  type TimelineSnapshot,
  buildMediaPlaylist,
  buildMpd,
  buildMultivariant,
  type HlsTag,
  lastPosition,
  manifestName,
  marshalPlaylist,
  measureBitrate,
  renderMpd,
  retention,
  siblingMediaUri,
} from '../core/index.js';
import type {
  EventBus,
  ManifestEvent,
  ManifestStore,
  ManifestWrite,
  MediaStore,
  RenditionInfo,
  StreamDirectory,
  StreamState,
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
}

export interface RenderResult {
  version: number;
  stored: number;
  refused: number;
  positions: Positions;
}

export const MANIFEST_TTL_SEC = 6 * 3600;

export class ManifestRenderer {
  /** Last complete segment each DVR playlist was rendered for, to skip unchanged DVR renders. */
  private dvrRendered = new Map<string, number>();

  constructor(
    private readonly store: RendererPorts,
    private readonly o: RenderOptions,
  ) {}

  async render(stream: string, nowMs: number): Promise<RenderResult | undefined> {
    const state = await this.store.streams.readState(stream);
    if (!state.settings || state.renditions.length === 0) return undefined;
    const s = state.settings;
    const kept = retention(s);
    const ended = state.state === 'ended';
    const { version, snaps } = await this.store.media.loadTimelines(
      stream,
      state,
      kept.liveSegmentsLoaded,
      kept.partSegmentsKept,
    );
    const files = new Map<
      string,
      { body: string; pos?: { msn: number; part: number }; version?: number; targetSec: number }
    >();
    const positions: Positions = {};
    for (const r of state.renditions) {
      const p = lastPosition(snaps.get(r.name)!);
      if (p) positions[r.name] = p;
    }
    files.set(manifestName.master, {
      body: marshalPlaylist(buildMultivariant(this.summaries(state, snaps))),
      targetSec: kept.targetDurationSec,
    });
    for (const r of state.renditions) {
      const snap = snaps.get(r.name)!;
      const windowTicks = s.windowSec * r.timescale;
      const reports = state.renditions
        .filter((o) => o.name !== r.name && positions[o.name])
        .map((o) => ({
          uri: siblingMediaUri(o.name),
          lastMsn: positions[o.name]!.msn,
          lastPart: positions[o.name]!.part >= 0 ? positions[o.name]!.part : undefined,
        }));
      const pos = positions[r.name];
      const full = buildMediaPlaylist(snap, { windowTicks, lowLatency: true, renditionReports: reports });
      files.set(manifestName.media(r.name), { body: marshalPlaylist(full), pos, targetSec: targetOf(full) });
      const skip = buildMediaPlaylist(snap, {
        windowTicks,
        lowLatency: true,
        skip: true,
        renditionReports: reports,
      });
      files.set(manifestName.mediaSkip(r.name), {
        body: marshalPlaylist(skip),
        pos,
        targetSec: targetOf(skip),
      });
      const lastComplete = snap.segments[snap.segments.length - 1]?.msn ?? -1;
      const dvrKey = `${stream}/${r.name}`;
      if (this.dvrRendered.get(dvrKey) !== lastComplete || ended) {
        const dvr = await this.store.media.loadTimelines(
          stream,
          { ...state, renditions: [r] },
          kept.segmentsKept,
          0,
        );
        const dvrSnap = dvr.snaps.get(r.name)!;
        const dvrTags = buildMediaPlaylist(
          { ...dvrSnap, open: undefined },
          { windowTicks: s.dvrWindowSec * r.timescale, lowLatency: false },
        );
        files.set(manifestName.dvr(r.name), {
          body: marshalPlaylist(dvrTags),
          version: dvr.version,
          targetSec: targetOf(dvrTags),
        });
        this.dvrRendered.set(dvrKey, lastComplete);
      }
    }
    const dash = this.dashRenditions(state, snaps);
    const mpdCommon = {
      publishTimeMs: nowMs,
      windowMs: s.windowSec * 1000,
      utcTimingUrl: this.o.utcTimingUrl,
      targetLatencyMs: this.o.targetLatencyMs,
    };
    files.set(manifestName.mpd, {
      body: renderMpd(buildMpd(dash, { ...mpdCommon, lowLatency: false })),
      targetSec: kept.targetDurationSec,
    });
    files.set(manifestName.mpdLowLatency, {
      body: renderMpd(buildMpd(dash, { ...mpdCommon, lowLatency: true })),
      targetSec: kept.targetDurationSec,
    });

    const writes: ManifestWrite[] = [...files].map(([name, f]) => ({
      name,
      version: f.version ?? version,
      body: f.body,
      msn: f.pos ? f.pos.msn : -1,
      part: f.pos ? f.pos.part : -1,
      targetSec: f.targetSec,
      renderedAt: nowMs,
    }));
    const { stored, refused } = await this.store.manifests.store(stream, writes, this.o.manifestTtlSec);
    const event: ManifestEvent = { t: 'manifest', s: stream, v: version, pos: positions };
    await this.store.events.publish(event);
    return { version, stored, refused, positions };
  }

  private summaries(state: StreamState, snaps: Map<string, TimelineSnapshot>): RenditionSummary[] {
    return state.renditions.map((r) => {
      const rate = measureBitrate(snaps.get(r.name)!);
      return {
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        uri: manifestName.media(r.name),
        peakBitrate: rate?.peak ?? r.nominalBitrate,
        averageBitrate: rate?.average ?? r.nominalBitrate,
        width: r.width,
        height: r.height,
        frameRate: r.frameRate,
        channelCount: r.channelCount,
      };
    });
  }

  private dashRenditions(state: StreamState, snaps: Map<string, TimelineSnapshot>): DashRendition[] {
    return state.renditions
      .filter((r) => snaps.get(r.name)!.segments.length > 0 || snaps.get(r.name)!.open)
      .map((r: RenditionInfo) => ({
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        bandwidth: measureBitrate(snaps.get(r.name)!)?.peak ?? r.nominalBitrate,
        width: r.width,
        height: r.height,
        frameRate: r.frameRate,
        sampleRate: r.sampleRate,
        channelCount: r.channelCount,
        snapshot: snaps.get(r.name)!,
      }));
  }
}

/** The EXT-X-TARGETDURATION a playlist was rendered with. */
function targetOf(tags: HlsTag[]): number {
  for (const t of tags) if (t.tag === 'EXT-X-TARGETDURATION') return t.seconds;
  throw new Error('a media playlist without EXT-X-TARGETDURATION');
}
