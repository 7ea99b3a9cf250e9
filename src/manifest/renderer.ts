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
  lastPosition,
  marshalPlaylist,
  measureBitrate,
  renderMpd,
} from '../core/index.js';
import { PART_SEGMENTS } from '../ingest/rendition-packager.js';
import type { MediaStore, RenditionInfo, StreamState } from '../store/media-store.js';

/** The newest position of each rendition, as the reader's blocking reloads compare them. */
export type Positions = Record<string, { msn: number; part: number }>;

/** Published on the events channel after a render. */
export interface ManifestEvent {
  t: 'manifest';
  s: string;
  v: number;
  pos: Positions;
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
    private readonly store: MediaStore,
    private readonly o: RenderOptions,
  ) {}

  async render(stream: string, nowMs: number): Promise<RenderResult | undefined> {
    const state = await this.store.readState(stream);
    if (!state.settings || state.renditions.length === 0) return undefined;
    const s = state.settings;
    const ended = state.state === 'ended';
    const liveSegments = Math.ceil(s.windowSec / s.segmentSec) + 3;
    const { version, snaps } = await this.store.loadTimelines(stream, state, liveSegments, PART_SEGMENTS);
    const files = new Map<string, { body: string; pos?: { msn: number; part: number }; version?: number }>();
    const positions: Positions = {};
    for (const r of state.renditions) {
      const p = lastPosition(snaps.get(r.name)!);
      if (p) positions[r.name] = p;
    }
    files.set('master.m3u8', { body: marshalPlaylist(buildMultivariant(this.summaries(state, snaps))) });
    for (const r of state.renditions) {
      const snap = snaps.get(r.name)!;
      const windowTicks = s.windowSec * r.timescale;
      const reports = state.renditions
        .filter((o) => o.name !== r.name && positions[o.name])
        .map((o) => ({
          uri: `../${o.name}/index.m3u8`,
          lastMsn: positions[o.name]!.msn,
          lastPart: positions[o.name]!.part >= 0 ? positions[o.name]!.part : undefined,
        }));
      const pos = positions[r.name];
      files.set(`${r.name}/index.m3u8`, {
        body: marshalPlaylist(
          buildMediaPlaylist(snap, { windowTicks, lowLatency: true, renditionReports: reports }),
        ),
        pos,
      });
      files.set(`${r.name}/index-skip.m3u8`, {
        body: marshalPlaylist(
          buildMediaPlaylist(snap, { windowTicks, lowLatency: true, skip: true, renditionReports: reports }),
        ),
        pos,
      });
      const lastComplete = snap.segments[snap.segments.length - 1]?.msn ?? -1;
      const dvrKey = `${stream}/${r.name}`;
      if (this.dvrRendered.get(dvrKey) !== lastComplete || ended) {
        const dvrSegments = Math.ceil(s.dvrWindowSec / s.segmentSec) + 3;
        const dvr = await this.store.loadTimelines(stream, { ...state, renditions: [r] }, dvrSegments, 0);
        const dvrSnap = dvr.snaps.get(r.name)!;
        files.set(`${r.name}/dvr.m3u8`, {
          body: marshalPlaylist(
            buildMediaPlaylist(
              { ...dvrSnap, open: undefined },
              { windowTicks: s.dvrWindowSec * r.timescale, lowLatency: false },
            ),
          ),
          version: dvr.version,
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
    files.set('manifest.mpd', { body: renderMpd(buildMpd(dash, { ...mpdCommon, lowLatency: false })) });
    files.set('manifest-ll.mpd', { body: renderMpd(buildMpd(dash, { ...mpdCommon, lowLatency: true })) });

    let stored = 0;
    let refused = 0;
    const keys = this.store.keys(stream);
    const pipeline = this.store.redis.pipeline();
    for (const [name, f] of files) {
      (pipeline as unknown as { storeManifest(...a: Array<string | number>): unknown }).storeManifest(
        keys.manifest(name),
        f.version ?? version,
        f.body,
        this.o.manifestTtlSec,
        f.pos ? f.pos.msn : -1,
        f.pos ? f.pos.part : -1,
        nowMs,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err, res] of results) {
      if (err) throw err;
      if (res === 1) stored++;
      else refused++;
    }
    const event: ManifestEvent = { t: 'manifest', s: stream, v: version, pos: positions };
    await this.store.redis.publish(this.store.deployment.events, JSON.stringify(event));
    return { version, stored, refused, positions };
  }

  private summaries(state: StreamState, snaps: Map<string, TimelineSnapshot>): RenditionSummary[] {
    return state.renditions.map((r) => {
      const rate = measureBitrate(snaps.get(r.name)!);
      return {
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        uri: `${r.name}/index.m3u8`,
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
