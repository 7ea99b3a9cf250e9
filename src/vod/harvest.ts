/**
 * Live-to-VOD harvest (issue #11): the complete segments of a stream whose first sample's wall clock lies in
 * [startMs, endMs), from the SegmentArchive (the DVR window, bytes already in the cold tier) and the live
 * timeline's newest segments (still only in Redis), copied into the asset's own objects in the cold tier (so the
 * live retention sweeper never breaks an asset), then published with its manifests. Missing msns (a range that
 * spans an outage) become discontinuities, and the plan and the result list them.
 */
import type { InitInfo } from '../core/isobmff/init.js';
import { parseInit } from '../core/isobmff/init.js';
import type { RenditionDescription } from '../core/manifest/set.js';
import { coldKey } from '../core/names/cold.js';
import { objectName } from '../core/names/names.js';
import {
  type VodAsset,
  type VodGap,
  type VodSegment,
  assetDurationMs,
  vodTimeline,
} from '../core/vod/asset.js';
import type { Logger } from '../log.js';
import type { ColdTier, MediaStore, SegmentArchive, StreamDirectory } from '../store/ports.js';
import { VodAssetExistsError, type VodAssets, VodWrites } from './assets.js';

/** Segments read per rendition at most (a 14-day window of 2 s segments is 604,800; a harvest is far less). */
export const MAX_HARVEST_SEGMENTS = 50_000;

export interface HarvestDeps {
  media: MediaStore;
  streams: StreamDirectory;
  archive: SegmentArchive;
  cold: ColdTier;
  assets: VodAssets;
  log: Logger;
}

export interface HarvestRequest {
  asset: string;
  stream: string;
  startMs: number;
  endMs: number;
}

/** What a request is, and why it is refused. */
export class HarvestRequestError extends Error {
  override readonly name = 'HarvestRequestError';
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export interface HarvestPlan {
  renditions: Array<{ description: RenditionDescription | undefined; name: string; segments: VodSegment[] }>;
  gaps: VodGap[];
  /** What the stream has to harvest from: the oldest segment's start and the newest one's end, Unix ms. */
  window: { startMs: number; endMs: number };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Reads the records of the range (no bytes) and checks the request: 404 for a stream with nothing stored, 400 for
 * a range that is empty, reversed or outside what the stream has (the message gives the window).
 */
export async function planHarvest(
  d: Omit<HarvestDeps, 'assets' | 'log' | 'cold'>,
  r: HarvestRequest,
): Promise<HarvestPlan> {
  if (!(r.startMs < r.endMs))
    throw new HarvestRequestError(400, `start (${iso(r.startMs)}) must be before end (${iso(r.endMs)})`);
  const state = await d.streams.readState(r.stream);
  const names = new Set([...state.renditions.map((x) => x.name), ...(await d.archive.renditions(r.stream))]);
  if (names.size === 0) throw new HarvestRequestError(404, `no stream ${r.stream} with stored media`);
  const live =
    state.renditions.length > 0 ? await d.media.loadTimelines(r.stream, state, 10_000, 0) : undefined;
  let winStart = Number.POSITIVE_INFINITY;
  let winEnd = Number.NEGATIVE_INFINITY;
  const renditions: HarvestPlan['renditions'] = [];
  for (const name of names) {
    const desc = state.renditions.find((x) => x.name === name);
    const ts = desc?.timescale;
    const archived = await d.archive.range(r.stream, name, r.startMs, r.endMs, MAX_HARVEST_SEGMENTS);
    const oldest = await d.archive.range(r.stream, name, 0, Number.MAX_SAFE_INTEGER, 1);
    const newest = await d.archive.range(r.stream, name, 0, Number.MAX_SAFE_INTEGER, 1, true);
    const snap = live?.snaps.get(name);
    const hot = (snap?.segments ?? []).map(({ parts: _p, closing: _c, ...s }) => s);
    const endOf = (s: VodSegment, timescale: number): number =>
      s.wallClockMs + (s.durationTicks * 1000) / timescale;
    for (const s of [...oldest, ...hot.slice(0, 1)]) winStart = Math.min(winStart, s.wallClockMs);
    const tsOf = ts ?? snap?.timescale ?? 90_000;
    for (const s of [...newest, ...hot.slice(-1)]) winEnd = Math.max(winEnd, endOf(s, tsOf));
    const inRange = hot.filter((s) => s.wallClockMs >= r.startMs && s.wallClockMs < r.endMs);
    const byMsn = new Map<number, VodSegment>();
    for (const s of [...archived, ...inRange]) byMsn.set(s.msn, s);
    renditions.push({ description: desc, name, segments: [...byMsn.values()] });
  }
  const window = { startMs: winStart, endMs: winEnd };
  if (!Number.isFinite(winStart))
    throw new HarvestRequestError(404, `stream ${r.stream} has no segments stored`);
  const windowText = `the stream's window is ${iso(window.startMs)} to ${iso(window.endMs)}`;
  if (r.endMs <= window.startMs || r.startMs >= window.endMs)
    throw new HarvestRequestError(
      400,
      `the range ${iso(r.startMs)} to ${iso(r.endMs)} is outside the window: ${windowText}`,
    );
  if (renditions.every((x) => x.segments.length === 0))
    throw new HarvestRequestError(400, `no segment starts in the range: ${windowText}`);
  const gaps: VodGap[] = [];
  for (const x of renditions) {
    const t = vodTimeline(x.name, x.segments);
    x.segments = t.segments;
    gaps.push(...t.gaps);
  }
  return { renditions, gaps, window };
}

export interface HarvestResult {
  asset: string;
  durationSec: number;
  segments: number;
  bytes: number;
  gaps: VodGap[];
  discontinuities: number;
  renditions: string[];
  /** The asset existed already from an earlier attempt of this job (a retry after the publish). */
  alreadyPublished?: boolean;
}

/**
 * Runs a harvest: plan, copy every init and segment into the asset (hot tier first, then the cold tier), publish.
 * Idempotent: a retried attempt rewrites the same keys with the same bytes; an asset published by an earlier
 * attempt of the same request is answered as done.
 */
export async function runHarvest(
  d: HarvestDeps,
  r: HarvestRequest,
  onProgress: (done: number, total: number) => Promise<void> | void = () => undefined,
): Promise<HarvestResult> {
  const log = d.log.child({ component: 'harvest', asset: r.asset, stream: r.stream });
  const existing = await d.assets.describe(r.asset);
  if (existing) {
    const s = existing.source;
    if (s.kind === 'harvest' && s.stream === r.stream && s.startMs === r.startMs && s.endMs === r.endMs)
      return { ...resultOf(existing, 0), alreadyPublished: true };
    throw new VodAssetExistsError(r.asset);
  }
  const plan = await planHarvest(d, r);
  const total = plan.renditions.reduce((n, x) => n + x.segments.length, 0);
  const writes = new VodWrites();
  let done = 0;
  try {
    const renditions: VodAsset['renditions'] = [];
    for (const [order, x] of plan.renditions.entries()) {
      let desc = x.description;
      const kept: VodSegment[] = [];
      // Per init id: its description (parsed only when the stream's description left the hot tier), null when
      // present but not parsed, undefined when missing.
      const inits = new Map<number, InitInfo | null | undefined>();
      for (const seg of x.segments) {
        if (!inits.has(seg.initId)) {
          const init = await readObject(d, r.stream, x.name, objectName.init(seg.initId));
          if (!init) {
            log.warn(
              { rendition: x.name, initId: seg.initId },
              'harvest: init segment missing, its segments skipped',
            );
            inits.set(seg.initId, undefined);
          } else {
            inits.set(seg.initId, desc ? null : parseInit(init));
            await d.assets.putMedia(r.asset, `${x.name}/${objectName.init(seg.initId)}`, init, writes);
          }
        }
        const info = inits.get(seg.initId);
        const bytes =
          info !== undefined ? await readObject(d, r.stream, x.name, objectName.segment(seg.msn)) : null;
        if (info !== undefined && bytes) {
          await d.assets.putMedia(r.asset, `${x.name}/${objectName.segment(seg.msn)}`, bytes, writes);
          kept.push(seg);
          if (info) desc ??= describeFromInit(x.name, info, order, seg);
        } else if (info !== undefined)
          log.warn({ rendition: x.name, msn: seg.msn }, 'harvest: segment bytes missing');
        done++;
        if (done % 10 === 0 || done === total) await onProgress(done, total);
      }
      if (!desc || kept.length === 0) continue;
      // Segments lost between planning and copying are gaps too.
      const t = vodTimeline(x.name, kept);
      renditions.push({ description: desc, segments: t.segments });
    }
    if (renditions.length === 0) throw new HarvestRequestError(400, 'no segment of the range could be read');
    const gaps = renditions.flatMap((x) => vodTimeline(x.description.name, x.segments).gaps);
    const asset: VodAsset = {
      name: r.asset,
      createdAtMs: Date.now(),
      source: { kind: 'harvest', stream: r.stream, startMs: r.startMs, endMs: r.endMs },
      renditions: renditions.sort((a, b) => a.description.order - b.description.order),
      gaps,
      programDateTime: true,
    };
    await d.assets.publish(asset, writes);
    const result = resultOf(asset, writes.bytes);
    log.info({ ...result, gaps: gaps.length }, 'harvest published');
    return result;
  } catch (err) {
    const removed = await d.assets.discard(writes).catch(() => 0);
    log.warn({ err: (err as Error).message, removed }, 'harvest failed: nothing published');
    throw err;
  }
}

function resultOf(a: VodAsset, bytes: number): HarvestResult {
  return {
    asset: a.name,
    durationSec: Number((assetDurationMs(a) / 1000).toFixed(3)),
    segments: a.renditions.reduce((n, x) => n + x.segments.length, 0),
    bytes,
    gaps: a.gaps,
    discontinuities: Math.max(
      0,
      ...a.renditions.map((x) => x.segments.filter((s) => s.discontinuity).length),
    ),
    renditions: a.renditions.map((x) => x.description.name),
  };
}

/** A live media object: the hot tier first, then the cold tier's copy. */
async function readObject(
  d: HarvestDeps,
  stream: string,
  rendition: string,
  file: string,
): Promise<Uint8Array | null> {
  const hot = await d.media.getObject(stream, rendition, file);
  if (hot) return hot;
  const cold = await d.cold.get(coldKey.live(stream, rendition, file));
  return cold ? cold.bytes : null;
}

/** A rendition whose description left the hot tier: what its init segment says. */
function describeFromInit(
  name: string,
  info: InitInfo,
  order: number,
  seg: VodSegment,
): RenditionDescription {
  return {
    name,
    kind: info.kind,
    codec: info.codec,
    timescale: info.timescale,
    width: info.width,
    height: info.height,
    sampleRate: info.sampleRate,
    channelCount: info.channelCount,
    nominalBitrate: Math.round((seg.byteLength * 8 * info.timescale) / Math.max(1, seg.durationTicks)),
    segmentTargetTicks: seg.durationTicks,
    partTargetTicks: seg.durationTicks,
    order: info.kind === 'audio' ? 100 + order : order,
  };
}
