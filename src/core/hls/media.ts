import { roundSeconds } from '../format.js';
import { type MediaUris, objectName } from '../names/names.js';
import { wallClockSteps } from '../timeline/anchor.js';
import { PART_LISTING_TARGET_DURATIONS } from '../timeline/ttl.js';
import type { PartEntry, SegmentEntry, TimelineSnapshot } from '../timeline/types.js';
import type { HlsTag, MediaTime, RenditionReport } from './tags.js';

export interface MediaPlaylistOptions {
  /** The live window: the newest segments covering at least this duration are listed (ticks). */
  windowTicks: number;
  /** Render LL-HLS tags (server control, parts, preload hint, rendition reports). */
  lowLatency: boolean;
  /** Render the delta update (EXT-X-SKIP) requested with _HLS_skip=YES, when the window allows it. */
  skip?: boolean;
  uris?: MediaUris;
  /** The other renditions' newest positions, for EXT-X-RENDITION-REPORT. */
  renditionReports?: Array<Omit<RenditionReport, 'tag'>>;
  /** PART-HOLD-BACK in part targets; the spec requires at least 3. Default 3. */
  partHoldBackParts?: number;
}

/** The newest position in a rendition: last media sequence number and last part index (LL-HLS). */
export interface PlaylistPosition {
  msn: number;
  part: number;
}

/**
 * The newest complete part, as EXT-X-RENDITION-REPORT and blocking reload count it: in the open segment if it
 * has parts, otherwise the last part of the last complete segment (part -1 when that segment lists none).
 */
export function lastPosition(s: TimelineSnapshot): PlaylistPosition | undefined {
  if (s.open && s.open.parts.length > 0) return { msn: s.open.msn, part: s.open.parts.length - 1 };
  const last = s.segments[s.segments.length - 1];
  if (!last) return undefined;
  return { msn: last.msn, part: last.parts.length - 1 };
}

/** The segments of the live window: newest first back until they cover windowTicks. */
export function liveWindow(s: TimelineSnapshot, windowTicks: number): SegmentEntry[] {
  let covered = 0;
  let i = s.segments.length;
  while (i > 0 && covered < windowTicks) covered += s.segments[--i]!.durationTicks;
  return s.segments.slice(i);
}

/** EXT-X-TARGETDURATION: the configured target, raised if any listed segment rounds above it. */
export function targetDurationSec(s: TimelineSnapshot, segments: SegmentEntry[]): number {
  let t = Math.ceil(s.segmentTargetTicks / s.timescale);
  for (const seg of segments) t = Math.max(t, roundSeconds(seg.durationTicks, s.timescale));
  return t;
}

/**
 * Builds a media playlist (classic or LL-HLS, full or delta) for one rendition from its timeline.
 * Bytes before references: the snapshot only holds parts and segments whose bytes are already stored.
 */
export function buildMediaPlaylist(s: TimelineSnapshot, o: MediaPlaylistOptions): HlsTag[] {
  const uris = o.uris ?? objectName;
  const ts = s.timescale;
  const mt = (ticks: number): MediaTime => ({ ticks, timescale: ts });
  const window = liveWindow(s, o.windowTicks);
  const target = targetDurationSec(s, window);
  const targetTicks = target * ts;
  const partTarget = s.partTargetTicks;
  // RFC 8216bis 4.4.3.8: CAN-SKIP-UNTIL is at least six Target Durations.
  const skipUntilTicks = 6 * targetTicks;

  // Delta update (RFC 8216bis 6.2.5.1): segments lying wholly more than CAN-SKIP-UNTIL before the end of the
  // playlist are replaced by EXT-X-SKIP; the client keeps them from its previous copy.
  let skipped = 0;
  // Only worth offering when the window is longer than the skip boundary.
  const canSkip = o.windowTicks > skipUntilTicks;
  if (o.lowLatency && o.skip && canSkip) {
    const endTicks = window.reduce((n, seg) => n + seg.durationTicks, 0) + (s.open?.durationTicks ?? 0);
    let segEnd = 0;
    for (const seg of window) {
      segEnd += seg.durationTicks;
      if (endTicks - segEnd < skipUntilTicks) break;
      skipped++;
    }
  }

  const tags: HlsTag[] = [{ tag: 'EXTM3U' }, { tag: 'EXT-X-VERSION', version: skipped > 0 ? 9 : 6 }];
  const all = s.open ? [...window, s.open] : window;
  if (all.length > 0 && all.every((seg) => seg.independent)) tags.push({ tag: 'EXT-X-INDEPENDENT-SEGMENTS' });
  tags.push({ tag: 'EXT-X-TARGETDURATION', seconds: target });
  if (o.lowLatency) {
    tags.push({
      tag: 'EXT-X-SERVER-CONTROL',
      canBlockReload: true,
      canSkipUntil: canSkip ? mt(skipUntilTicks) : undefined,
      // HOLD-BACK for clients that ignore parts: at least three target durations (RFC 8216bis 4.4.3.8).
      holdBack: mt(3 * targetTicks),
      partHoldBack: mt((o.partHoldBackParts ?? 3) * partTarget),
    });
    tags.push({ tag: 'EXT-X-PART-INF', partTarget: mt(partTarget) });
  }
  const first = window[0] ?? s.open;
  tags.push({ tag: 'EXT-X-MEDIA-SEQUENCE', msn: first?.msn ?? 0 });
  tags.push({ tag: 'EXT-X-DISCONTINUITY-SEQUENCE', seq: first?.discontinuitySeq ?? 0 });
  if (skipped > 0) tags.push({ tag: 'EXT-X-SKIP', skippedSegments: skipped });

  // Parts are listed for the newest segments only (RFC 8216bis 6.2.2; see partListStart).
  const hintOpensSegment = !s.open && !s.ended;
  const partsFrom = partListStart(all, targetTicks, hintOpensSegment);
  let prevInit: number | undefined;
  all.forEach((seg, i) => {
    if (i < skipped) return;
    const isFirst = i === skipped;
    if (seg.discontinuity && !isFirst) tags.push({ tag: 'EXT-X-DISCONTINUITY' });
    if (seg.initId !== prevInit) tags.push({ tag: 'EXT-X-MAP', uri: uris.init(seg.initId) });
    prevInit = seg.initId;
    if (isFirst || seg.discontinuity || wallClockSteps(all[i - 1], seg, ts))
      tags.push({ tag: 'EXT-X-PROGRAM-DATE-TIME', unixMs: seg.wallClockMs });
    if (o.lowLatency && i >= partsFrom) {
      for (const p of seg.parts) tags.push(partTag(p, uris, ts));
    }
    if (seg !== s.open)
      tags.push({ tag: 'EXTINF', duration: mt(seg.durationTicks), uri: uris.segment(seg.msn) });
  });

  if (o.lowLatency && !s.ended) {
    // RFC 8216bis 4.4.5.3 and hls.js: a preload hint for the next part must always be present.
    const next =
      s.open && !s.open.closing
        ? { msn: s.open.msn, index: s.open.parts.length }
        : { msn: (s.open?.msn ?? all[all.length - 1]?.msn ?? -1) + 1, index: 0 };
    tags.push({ tag: 'EXT-X-PRELOAD-HINT', type: 'PART', uri: uris.part(next.msn, next.index) });
    for (const r of o.renditionReports ?? []) tags.push({ tag: 'EXT-X-RENDITION-REPORT', ...r });
  }
  if (s.ended) tags.push({ tag: 'EXT-X-ENDLIST' });
  return tags;
}

function partTag(p: PartEntry, uris: MediaUris, timescale: number): HlsTag {
  return {
    tag: 'EXT-X-PART',
    duration: { ticks: p.durationTicks, timescale },
    uri: uris.part(p.msn, p.index),
    independent: p.independent,
  };
}

/**
 * Index in `segments` (the playlist's segments, the open one last) of the first segment whose parts are listed.
 *
 * RFC 8216bis 6.2.2: EXT-X-PART tags SHOULD be removed once they are more than three target durations from the
 * end of the playlist. Strict parsers (hls-parser) count that in segments: parts only in the playlist's last
 * three segments, where the trailing one is the open segment or, when none is open, the one the preload hint
 * opens (its EXT-X-PRELOAD-HINT parses as a part of a segment of its own). So, walking back from the end, a
 * segment lists its parts while both hold:
 * - it is one of the last PART_LISTING_TARGET_DURATIONS segments, the preload hint's counted;
 * - it starts at most PART_LISTING_TARGET_DURATIONS target durations before the end of the playlist (so no
 *   listed part is further from the end, whatever the segments' durations).
 * Then only from the first of those that still has its part list, so listed parts are contiguous.
 */
export function partListStart(
  segments: SegmentEntry[],
  targetTicks: number,
  hintOpensSegment: boolean,
): number {
  const maxSegments = PART_LISTING_TARGET_DURATIONS - (hintOpensSegment ? 1 : 0);
  const spanTicks = PART_LISTING_TARGET_DURATIONS * targetTicks;
  let fromEnd = 0;
  let i = segments.length;
  while (i > 0 && segments.length - i < maxSegments) {
    const d = segments[i - 1]!.durationTicks;
    if (fromEnd + d > spanTicks) break;
    fromEnd += d;
    i--;
  }
  // The part list must be contiguous: skip forward past any segment that has already dropped its parts.
  let start = i;
  for (let j = i; j < segments.length; j++) {
    if (segments[j]!.parts.length === 0 && j < segments.length - 1) start = j + 1;
  }
  return start;
}
