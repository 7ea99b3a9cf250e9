/**
 * DVR and time-shifted media playlists (issue #11): the complete segments of a window that may hold a day or
 * more (43,200 segments at 2 s), listed from the archive records and the live timeline, rendered without
 * re-rendering the whole list for every new segment.
 *
 * The list is cut into chunks by media sequence number (DVR_CHUNK_SEGMENTS per chunk: segment msn belongs to
 * chunk floor(msn / DVR_CHUNK_SEGMENTS)). Every chunk start repeats EXT-X-MAP and EXT-X-PROGRAM-DATE-TIME, so a
 * chunk's text depends on its own segments only; segments are immutable once complete (their msn never names
 * other media), so a full chunk's text never changes and DvrPlaylistRenderer keeps it. A render then builds the
 * header, the first chunk of the view (partial: where the window starts) and the last (growing) one, and joins the
 * kept chunks between: the cost of a new segment no longer grows with the window (bench/dvr.ts measures it).
 * buildDvrPlaylist is the same playlist as tags, the reference the renderer is tested against.
 */
import { roundSeconds } from '../format.js';
import { type MediaUris, objectName } from '../names/names.js';
import type { SegmentEntry } from '../timeline/types.js';
import { wallClockSteps } from '../timeline/anchor.js';
import { type HlsTag, marshalPlaylist, marshalTag } from './tags.js';

/** A complete segment as the archive records it (no parts). */
export type DvrSegment = Omit<SegmentEntry, 'parts' | 'closing'>;

/** Segments per kept chunk of rendered text. */
export const DVR_CHUNK_SEGMENTS = 100;

export interface DvrPlaylist {
  timescale: number;
  /** Configured segment duration (EXT-X-TARGETDURATION unless a listed segment rounds above it). */
  segmentTargetTicks: number;
  /** Complete segments, oldest first, consecutive media sequence numbers (dvrRun). */
  segments: readonly DvrSegment[];
  /** Nothing will be added (the stream ended, or a catch-up range is over): EXT-X-ENDLIST. */
  ended: boolean;
  /** EXT-X-PLAYLIST-TYPE: EVENT for start-over (the playlist only grows), VOD for a finished catch-up. */
  playlistType?: 'EVENT' | 'VOD';
}

/**
 * Merges archive records and the live timeline's complete segments by msn (the live entry wins a duplicate:
 * both describe the same bytes) and keeps the run of consecutive media sequence numbers that ends at the newest
 * segment: a media playlist numbers its segments implicitly from EXT-X-MEDIA-SEQUENCE, so a missing segment (a
 * cold write dropped after its retries) cannot be skipped over; the window then starts after it.
 */
export function dvrRun(archived: readonly DvrSegment[], live: readonly DvrSegment[]): DvrSegment[] {
  const byMsn = new Map<number, DvrSegment>();
  for (const s of archived) byMsn.set(s.msn, s);
  for (const s of live) byMsn.set(s.msn, s);
  const all = [...byMsn.values()].sort((a, b) => a.msn - b.msn);
  let i = all.length - 1;
  while (i > 0 && all[i - 1]!.msn === all[i]!.msn - 1) i--;
  return all.slice(Math.max(0, i));
}

/** Index of the first segment whose first sample is at or after `ms` (segments.length if none). */
export function firstAtOrAfter(segments: readonly DvrSegment[], ms: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (segments[mid]!.wallClockMs < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Wall clock where a segment ends, Unix ms (exact to the ms: floor of its start plus its duration). */
export function segmentEndMs(s: DvrSegment, timescale: number): number {
  return s.wallClockMs + Math.floor((s.durationTicks * 1000) / timescale);
}

/**
 * The segments of a view: those starting in [fromMs, toMs) (a time-shift range), or, without a range, those
 * starting at most windowMs before the newest segment's end (the DVR window, by wall clock as the archive is
 * trimmed and time-shift URLs name it).
 */
export function dvrView(
  segments: readonly DvrSegment[],
  o: { windowMs: number; timescale: number; fromMs?: number; toMs?: number },
): DvrSegment[] {
  const { from, to } = dvrViewRange(segments, o);
  return segments.slice(from, to);
}

/** dvrView as indices [from, to) into segments (binary searches only: no copy of a day-long list per request). */
export function dvrViewRange(
  segments: readonly DvrSegment[],
  o: { windowMs: number; timescale: number; fromMs?: number; toMs?: number },
): { from: number; to: number } {
  if (o.fromMs !== undefined || o.toMs !== undefined) {
    const a = o.fromMs === undefined ? 0 : firstAtOrAfter(segments, o.fromMs);
    const b = o.toMs === undefined ? segments.length : firstAtOrAfter(segments, o.toMs);
    return { from: a, to: Math.max(a, b) };
  }
  const newest = segments[segments.length - 1];
  if (!newest) return { from: 0, to: 0 };
  return {
    from: firstAtOrAfter(segments, segmentEndMs(newest, o.timescale) - o.windowMs),
    to: segments.length,
  };
}

/** The header tags: everything before the first segment. */
function headerTags(p: DvrPlaylist): HlsTag[] {
  const segs = p.segments;
  let target = Math.ceil(p.segmentTargetTicks / p.timescale);
  let independent = segs.length > 0;
  for (const s of segs) {
    target = Math.max(target, roundSeconds(s.durationTicks, p.timescale));
    if (!s.independent) independent = false;
  }
  const tags: HlsTag[] = [{ tag: 'EXTM3U' }, { tag: 'EXT-X-VERSION', version: 6 }];
  if (independent) tags.push({ tag: 'EXT-X-INDEPENDENT-SEGMENTS' });
  tags.push({ tag: 'EXT-X-TARGETDURATION', seconds: target });
  if (p.playlistType) tags.push({ tag: 'EXT-X-PLAYLIST-TYPE', type: p.playlistType });
  tags.push({ tag: 'EXT-X-MEDIA-SEQUENCE', msn: segs[0]?.msn ?? 0 });
  tags.push({ tag: 'EXT-X-DISCONTINUITY-SEQUENCE', seq: segs[0]?.discontinuitySeq ?? 0 });
  return tags;
}

/** The chunk a media sequence number belongs to (DVR_CHUNK_SEGMENTS per chunk; the DVR MPD uses the same). */
export const dvrChunkOf = (msn: number): number => Math.floor(msn / DVR_CHUNK_SEGMENTS);
const chunkOf = dvrChunkOf;

/**
 * Tags of consecutive segments. The playlist's first segment and every chunk's first segment carry EXT-X-MAP
 * and EXT-X-PROGRAM-DATE-TIME; inside a chunk EXT-X-MAP follows init changes and the PDT each discontinuity
 * (RFC 8216bis 4.4.4.6: a PDT after a discontinuity), so every PDT is the segment's own wall clock, exact to the
 * ms across discontinuities.
 */
function segmentTags(
  segs: readonly DvrSegment[],
  ts: number,
  uris: MediaUris,
  playlistFirstMsn: number,
): HlsTag[] {
  const tags: HlsTag[] = [];
  let prev: DvrSegment | undefined;
  for (const s of segs) {
    const anchor = s.msn === playlistFirstMsn || !prev || chunkOf(s.msn) !== chunkOf(prev.msn);
    if (s.discontinuity && s.msn !== playlistFirstMsn) tags.push({ tag: 'EXT-X-DISCONTINUITY' });
    if (anchor || s.initId !== prev!.initId) tags.push({ tag: 'EXT-X-MAP', uri: uris.init(s.initId) });
    if (anchor || s.discontinuity || wallClockSteps(prev, s, ts))
      tags.push({ tag: 'EXT-X-PROGRAM-DATE-TIME', unixMs: s.wallClockMs });
    tags.push({
      tag: 'EXTINF',
      duration: { ticks: s.durationTicks, timescale: ts },
      uri: uris.segment(s.msn),
    });
    prev = s;
  }
  return tags;
}

/** The DVR or time-shifted playlist as tags (the reference rendering). */
export function buildDvrPlaylist(p: DvrPlaylist, uris: MediaUris = objectName): HlsTag[] {
  const tags = headerTags(p);
  tags.push(...segmentTags(p.segments, p.timescale, uris, p.segments[0]?.msn ?? -1));
  if (p.ended) tags.push({ tag: 'EXT-X-ENDLIST' });
  return tags;
}

const marshalLines = (tags: HlsTag[]): string =>
  tags.length === 0 ? '' : `${tags.map(marshalTag).join('\n')}\n`;

/**
 * Renders DVR playlists of one rendition, keeping the text of full chunks (at most maxChunks, the oldest
 * forgotten first) across renders. Equal output to marshalPlaylist(buildDvrPlaylist(p)).
 */
export class DvrPlaylistRenderer {
  /** chunk index -> text of its DVR_CHUNK_SEGMENTS segments (not the playlist's first chunk). */
  private readonly chunks = new Map<number, string>();
  /** Chunks rendered and reused, for benchmarks and tests. */
  rendered = 0;
  reused = 0;

  constructor(
    private readonly maxChunks = 20_000,
    private readonly uris: MediaUris = objectName,
  ) {}

  render(p: DvrPlaylist): string {
    const segs = p.segments;
    if (segs.length === 0) return marshalPlaylist(buildDvrPlaylist(p, this.uris));
    const first = segs[0]!.msn;
    const out: string[] = [marshalLines(headerTags(p))];
    let i = 0;
    while (i < segs.length) {
      const c = chunkOf(segs[i]!.msn);
      let j = i;
      while (j < segs.length && chunkOf(segs[j]!.msn) === c) j++;
      const full = j - i === DVR_CHUNK_SEGMENTS && i > 0;
      let text = full ? this.chunks.get(c) : undefined;
      if (text === undefined) {
        text = marshalLines(segmentTags(segs.slice(i, j), p.timescale, this.uris, first));
        this.rendered++;
        if (full) this.keep(c, text);
      } else this.reused++;
      out.push(text);
      i = j;
    }
    if (p.ended) out.push(`${marshalTag({ tag: 'EXT-X-ENDLIST' })}\n`);
    return out.join('');
  }

  /** Chunks kept now. */
  get size(): number {
    return this.chunks.size;
  }

  private keep(c: number, text: string): void {
    this.chunks.set(c, text);
    if (this.chunks.size > this.maxChunks) this.chunks.delete(this.chunks.keys().next().value!);
  }
}
