/**
 * Issue #11: a VOD asset as data, and its manifests as pure functions. An asset is immutable: a ladder of
 * renditions, each a list of complete CMAF segments (init + seg files of its own, in the cold tier under
 * `vod/{asset}/`), rendered once into a VOD multivariant playlist, VOD media playlists (EXT-X-PLAYLIST-TYPE:VOD,
 * EXT-X-ENDLIST) and a static MPD. The same typed models and renderers as live (src/core/hls, src/core/dash).
 */
import { buildMpd, type DashRendition, mpdToXml } from '../dash/mpd.js';
import { type XmlElement, serializeXml } from '../dash/xml.js';
import { isoDurationMs } from '../format.js';
import { buildMediaPlaylist } from '../hls/media.js';
import { buildMultivariant, type RenditionSummary } from '../hls/multivariant.js';
import { type HlsTag, marshalPlaylist } from '../hls/tags.js';
import { type RenditionDescription, renditionSummary } from '../manifest/set.js';
import { manifestName, objectName } from '../names/names.js';
import { measureBitrate } from '../timeline/bitrate.js';
import type { SegmentEntry, TimelineSnapshot } from '../timeline/types.js';

/** A complete segment of an asset (no parts: VOD lists whole segments). */
export type VodSegment = Omit<SegmentEntry, 'parts' | 'closing'>;

export interface VodRendition {
  description: RenditionDescription;
  /** Ascending by msn; discontinuities flagged (a harvested gap, an encoder reconnect). */
  segments: VodSegment[];
}

/** Where an asset came from (kept in its description, answered by the API). */
export type VodSource =
  { kind: 'harvest'; stream: string; startMs: number; endMs: number } | { kind: 'file'; file: string };

/** A missing run of segments in a harvested range: the asset has a discontinuity there. */
export interface VodGap {
  rendition: string;
  /** The last msn before the gap and the first after it. */
  afterMsn: number;
  beforeMsn: number;
}

/** An asset's description (stored as asset.json, written last: it is what publishes the asset). */
export interface VodAsset {
  name: string;
  createdAtMs: number;
  source: VodSource;
  /** Ladder order, top first. */
  renditions: VodRendition[];
  gaps: VodGap[];
  /** Render the segments' wall clock as EXT-X-PROGRAM-DATE-TIME (harvests: the live event's clock). */
  programDateTime: boolean;
}

/** The asset's description file, beside its manifests. */
export const VOD_ASSET_FILE = 'asset.json';

/** Files of an asset (paths relative to the asset's folder). */
export const vodPath = {
  master: manifestName.master,
  mpd: manifestName.mpd,
  media: (rendition: string): string => manifestName.media(rendition),
  init: (rendition: string, initId: number): string => `${rendition}/${objectName.init(initId)}`,
  segment: (rendition: string, msn: number): string => `${rendition}/${objectName.segment(msn)}`,
  description: VOD_ASSET_FILE,
} as const;

/** A rendered manifest of an asset. */
export interface VodFile {
  path: string;
  contentType: string;
  body: string;
}

export const HLS_TYPE = 'application/vnd.apple.mpegurl';
export const DASH_TYPE = 'application/dash+xml';

/** Duration of a rendition, ms (its segments' durations summed). */
export function renditionDurationMs(r: VodRendition): number {
  const ticks = r.segments.reduce((n, s) => n + s.durationTicks, 0);
  return (ticks * 1000) / r.description.timescale;
}

/** The asset's duration: its longest rendition's, ms. */
export function assetDurationMs(a: VodAsset): number {
  return Math.max(0, ...a.renditions.map(renditionDurationMs));
}

/**
 * Orders records by msn, drops duplicates, and marks a discontinuity wherever msns are missing (a gap in a
 * harvested range): the segment after a gap starts a new discontinuity sequence and a new DASH period. Existing
 * discontinuities (encoder reconnects) are kept. Discontinuity sequences are renumbered from 0 for the asset.
 */
export function vodTimeline(
  rendition: string,
  records: ReadonlyArray<VodSegment>,
): { segments: VodSegment[]; gaps: VodGap[] } {
  const sorted = [...records]
    .sort((a, b) => a.msn - b.msn)
    .filter((s, i, all) => i === 0 || all[i - 1]!.msn !== s.msn);
  const gaps: VodGap[] = [];
  let seq = 0;
  const segments = sorted.map((s, i) => {
    const prev = sorted[i - 1];
    const gap = prev !== undefined && s.msn !== prev.msn + 1;
    if (gap) gaps.push({ rendition, afterMsn: prev.msn, beforeMsn: s.msn });
    const disc = i > 0 && (gap || s.discontinuity || s.discontinuitySeq !== prev!.discontinuitySeq);
    if (disc) seq++;
    return { ...s, discontinuity: disc, discontinuitySeq: seq };
  });
  return { segments, gaps };
}

/**
 * The snapshot the live renderers take, for a finished rendition. Periods are laid end to end: each period's
 * anchor is the asset time (ms from 0) at which it starts, so a harvested gap does not become a hole in the
 * presentation (the HLS playlist's PROGRAM-DATE-TIME still says where the gap was).
 */
function snapshotOf(r: VodRendition): TimelineSnapshot {
  const ts = r.description.timescale;
  let elapsedTicks = 0;
  let periodWallClockMs = 0;
  let periodStartTicks = 0;
  const segments = r.segments.map((s, i) => {
    if (i === 0 || s.discontinuity) {
      periodWallClockMs = Math.round((elapsedTicks * 1000) / ts);
      periodStartTicks = s.startTicks;
    }
    elapsedTicks += s.durationTicks;
    return { ...s, periodWallClockMs, periodStartTicks, parts: [] };
  });
  return {
    timescale: ts,
    segmentTargetTicks: r.description.segmentTargetTicks,
    partTargetTicks: r.description.partTargetTicks,
    segments,
    open: undefined,
    ended: true,
  };
}

/** A VOD media playlist: every segment, EXT-X-PLAYLIST-TYPE:VOD, EXT-X-ENDLIST. */
export function buildVodMediaPlaylist(r: VodRendition, programDateTime: boolean): HlsTag[] {
  const tags = buildMediaPlaylist(snapshotOf(r), {
    windowTicks: Number.POSITIVE_INFINITY,
    lowLatency: false,
  });
  const out = tags.filter((t) => programDateTime || t.tag !== 'EXT-X-PROGRAM-DATE-TIME');
  // RFC 8216bis 4.4.3.5: with VOD the playlist MUST NOT change.
  out.splice(out.findIndex((t) => t.tag === 'EXT-X-TARGETDURATION') + 1, 0, {
    tag: 'EXT-X-PLAYLIST-TYPE',
    type: 'VOD',
  });
  return out;
}

function summary(r: VodRendition): RenditionSummary {
  return renditionSummary(r.description, snapshotOf(r), vodPath.media(r.description.name));
}

/**
 * A static MPD (ISO/IEC 23009-1 type="static"): the live MPD model over the finished timelines, with
 * mediaPresentationDuration and without the live-only attributes (time-shift buffer, presentation delay, update
 * period, clock).
 */
export function buildVodMpd(a: VodAsset): XmlElement {
  const dash: DashRendition[] = a.renditions
    .filter((r) => r.segments.length > 0)
    .map((r) => {
      const d = r.description;
      const snapshot = snapshotOf(r);
      return {
        name: d.name,
        kind: d.kind,
        codec: d.codec,
        bandwidth: measureBitrate(snapshot)?.peak ?? d.nominalBitrate,
        width: d.width,
        height: d.height,
        frameRate: d.frameRate,
        sampleRate: d.sampleRate,
        channelCount: d.channelCount,
        language: d.language,
        closedCaptions: d.closedCaptions,
        snapshot,
      };
    });
  const durationMs = assetDurationMs(a);
  const mpd = buildMpd(dash, {
    publishTimeMs: a.createdAtMs,
    // Covers every segment (liveWindow keeps the newest segments covering at least this).
    windowMs: Math.ceil(durationMs) + 1000,
    lowLatency: false,
    utcTimingUrl: '/time',
  });
  mpd.ended = true;
  const xml = mpdToXml(mpd);
  const attrs = { ...xml.attrs };
  for (const k of [
    'availabilityStartTime',
    'minimumUpdatePeriod',
    'timeShiftBufferDepth',
    'suggestedPresentationDelay',
  ])
    delete attrs[k];
  attrs.type = 'static';
  attrs.mediaPresentationDuration = isoDurationMs(Math.round(durationMs));
  return {
    ...xml,
    attrs,
    children: (xml.children ?? []).filter((c) => c.name !== 'UTCTiming'),
  };
}

/** Every manifest of an asset, rendered once when it is published. */
export function renderVodManifests(a: VodAsset): VodFile[] {
  const renditions = a.renditions.filter((r) => r.segments.length > 0);
  const files: VodFile[] = [
    {
      path: vodPath.master,
      contentType: HLS_TYPE,
      body: marshalPlaylist(buildMultivariant(renditions.map(summary))),
    },
  ];
  for (const r of renditions)
    files.push({
      path: vodPath.media(r.description.name),
      contentType: HLS_TYPE,
      body: marshalPlaylist(buildVodMediaPlaylist(r, a.programDateTime)),
    });
  files.push({ path: vodPath.mpd, contentType: DASH_TYPE, body: serializeXml(buildVodMpd(a)) });
  return files;
}
