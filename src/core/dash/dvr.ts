/**
 * The DVR MPD and time-shifted MPDs (issue #11): the classic MPD's model (buildMpd, number-based addressing for
 * the live period where the segments sit on the grid, decision 007) over the DVR window's segments (archive
 * records and the live timeline, hls/dvr.ts dvrRun) instead of the live window, with timeShiftBufferDepth = the
 * window. A finished catch-up range is a static MPD (every period with its exact SegmentTimeline, starting at the
 * range's first segment).
 *
 * buildDvrMpd is the reference: it walks every segment of the view (O(window): 43,200 per rendition for a day of
 * 2 s segments). DvrMpdRenderer gives the same model and text at a cost that does not grow with the window on each
 * new segment, as DvrPlaylistRenderer does for dvr.m3u8: what the MPD needs of a run of segments (its
 * SegmentTimeline runs, longest duration, and whether it sits on the number grid) is summarized per chunk of
 * DVR_CHUNK_SEGMENTS msns, full chunks are kept (their segments never change), and a render merges the view's
 * partial first and last chunks with the whole chunks between them, joined once per pair of end chunks (again
 * only when the view crosses a chunk boundary). buildMpd then builds the MPD from each period's first
 * and last segments only, and the summaries fill in what depends on all of them.
 */
import { DVR_CHUNK_SEGMENTS, type DvrSegment, dvrChunkOf } from '../hls/dvr.js';
import type { RenditionDescription } from '../manifest/set.js';
import { type Mpd, type S, buildMpd, keepsUp, numberGrid, renderMpd, segmentTimeline } from './mpd.js';

export interface DvrTrack {
  description: RenditionDescription;
  /** Part target advertised by the live timeline (the number grid's tolerance, as in the classic MPD). */
  partTargetTicks: number;
  /** Bandwidth to announce, bits/s (the live MPD's, so both agree). */
  bandwidth: number;
  /** The view's complete segments, oldest first. */
  segments: readonly DvrSegment[];
}

export interface DvrMpdOptions {
  /** Render time, Unix ms (MPD@publishTime; whether the chain keeps up with the clock). */
  publishTimeMs: number;
  /** timeShiftBufferDepth, ms: the DVR window, or how far back a start-over view reaches. */
  windowMs: number;
  utcTimingUrl: string;
  /** Nothing more will be listed (the stream ended, or the catch-up range is over): a static MPD. */
  ended: boolean;
}

export function buildDvrMpd(tracks: readonly DvrTrack[], o: DvrMpdOptions): Mpd {
  const renditions = tracks
    .filter((t) => t.segments.length > 0)
    .map((t) => {
      const r = t.description;
      return {
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        bandwidth: t.bandwidth,
        width: r.width,
        height: r.height,
        frameRate: r.frameRate,
        sampleRate: r.sampleRate,
        channelCount: r.channelCount,
        language: r.language,
        closedCaptions: r.closedCaptions,
        snapshot: {
          timescale: r.timescale,
          segmentTargetTicks: r.segmentTargetTicks,
          partTargetTicks: t.partTargetTicks,
          segments: (o.ended ? rebase(t.segments) : t.segments).map((s) => ({ ...s, parts: [] })),
          open: undefined,
          ended: o.ended,
        },
      };
    });
  // Every segment of the view is listed: the window given to buildMpd covers them all.
  const spanMs = Math.max(
    o.windowMs,
    ...renditions.map((r) => {
      const segs = r.snapshot.segments;
      const a = segs[0]!;
      const b = segs[segs.length - 1]!;
      return b.wallClockMs - a.wallClockMs + Math.ceil((b.durationTicks * 1000) / r.snapshot.timescale) + 1;
    }),
  );
  const mpd = buildMpd(renditions, {
    publishTimeMs: o.publishTimeMs,
    windowMs: spanMs,
    lowLatency: false,
    utcTimingUrl: o.utcTimingUrl,
  });
  return { ...mpd, timeShiftBufferDepthMs: o.windowMs, ended: o.ended && renditions.length > 0 };
}

/**
 * A finished range's periods start at its first segment (not at the period's anchor before the range), so a
 * static MPD's presentation begins with media: each discontinuity sequence is re-anchored at its first listed
 * segment (its own start and wall clock, exact to the ms).
 */
function rebase(segments: readonly DvrSegment[]): DvrSegment[] {
  const anchors = new Map<number, DvrSegment>();
  return segments.map((s) => {
    let a = anchors.get(s.discontinuitySeq);
    if (!a) anchors.set(s.discontinuitySeq, (a = s));
    return { ...s, periodStartTicks: a.startTicks, periodWallClockMs: a.wallClockMs };
  });
}

/** A run of consecutive segments of one discontinuity sequence, summarized for the MPD. */
interface Piece {
  disc: number;
  first: DvrSegment;
  last: DvrSegment;
  /** The segments it summarizes (part of one chunk)... */
  segments?: readonly DvrSegment[];
  /** ...or the consecutive pieces it joins (the whole chunks between a view's ends). */
  parts?: readonly Piece[];
  /** segmentTimeline of its segments. */
  timeline: S[];
  maxTicks: number;
  /** numberGrid of its segments by "pto/d/tolerance": the startNumber, or null (off the grid). */
  grid: Map<string, number | null>;
}

function pieces(segs: readonly DvrSegment[]): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  while (i < segs.length) {
    const disc = segs[i]!.discontinuitySeq;
    let j = i + 1;
    while (j < segs.length && segs[j]!.discontinuitySeq === disc) j++;
    const part = segs.slice(i, j);
    let maxTicks = 0;
    for (const x of part) maxTicks = Math.max(maxTicks, x.durationTicks);
    out.push({
      disc,
      first: part[0]!,
      last: part[part.length - 1]!,
      segments: part,
      timeline: segmentTimeline(part),
      maxTicks,
      grid: new Map(),
    });
    i = j;
  }
  return out;
}

function pieceGrid(p: Piece, pto: number, d: number, tolerance: number): number | null {
  const key = `${pto}/${d}/${tolerance}`;
  let g = p.grid.get(key);
  if (g === undefined) {
    if (p.segments) g = numberGrid(p.segments as DvrSegment[], pto, d, tolerance)?.startNumber ?? null;
    else {
      // On the grid when every joined piece is, with one startNumber.
      g = null;
      for (const q of p.parts!) {
        const h = pieceGrid(q, pto, d, tolerance);
        if (h === null || (g !== null && h !== g)) {
          g = null;
          break;
        }
        g = h;
      }
    }
    p.grid.set(key, g);
  }
  return g;
}

/** Consecutive pieces joined into one per discontinuity sequence (same summaries, fewer to merge per render). */
function join(ps: readonly Piece[]): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  while (i < ps.length) {
    let j = i + 1;
    while (j < ps.length && ps[j]!.disc === ps[i]!.disc) j++;
    const parts = ps.slice(i, j);
    out.push({
      disc: ps[i]!.disc,
      first: parts[0]!.first,
      last: parts[parts.length - 1]!.last,
      parts,
      timeline: mergedTimeline(parts),
      maxTicks: Math.max(...parts.map((q) => q.maxTicks)),
      grid: new Map(),
    });
    i = j;
  }
  return out;
}

/** One discontinuity sequence of a rendition's view. */
interface PeriodRun {
  first: DvrSegment;
  last: DvrSegment;
  pieces: Piece[];
}

/** The S runs of consecutive pieces, merged where a run continues across a boundary (= segmentTimeline of all). */
function mergedTimeline(ps: readonly Piece[]): S[] {
  const out: S[] = [];
  for (const p of ps) {
    for (let k = 0; k < p.timeline.length; k++) {
      const s = p.timeline[k]!;
      const last = out[out.length - 1];
      // Kept summaries are shared between renders: a merged run is a new S, never an edit of a kept one.
      if (k === 0 && last && last.d === s.d && last.t + last.d * (last.r + 1) === s.t)
        out[out.length - 1] = { t: last.t, d: last.d, r: last.r + s.r + 1 };
      else out.push(s);
    }
  }
  return out;
}

/**
 * Renders the DVR and time-shifted MPDs of one stream, keeping per rendition the summaries of full chunks (at
 * most maxChunks each, the oldest forgotten first) across renders. Same model as buildDvrMpd, same text as
 * renderMpd(buildDvrMpd(tracks, o)) (the unit test holds them equal).
 */
export class DvrMpdRenderer {
  private readonly kept = new Map<string, Map<number, Piece[]>>();
  /** Per rendition, the whole chunks between a view's ends joined, by "first chunk-last chunk" (a few views). */
  private readonly middles = new Map<string, Map<string, Piece[]>>();
  /** Chunk summaries computed and reused, and pieces merged into views, for benchmarks and tests. */
  rendered = 0;
  reused = 0;
  merged = 0;

  constructor(private readonly maxChunks = 20_000) {}

  render(tracks: readonly DvrTrack[], o: DvrMpdOptions): string {
    return renderMpd(this.build(tracks, o));
  }

  build(tracks: readonly DvrTrack[], o: DvrMpdOptions): Mpd {
    const runs = new Map<string, Map<number, PeriodRun>>();
    const condensed = tracks.map((t) => {
      const byDisc = this.periods(t.description.name, t.segments);
      runs.set(t.description.name, byDisc);
      const segments: DvrSegment[] = [];
      for (const r of byDisc.values()) segments.push(...(r.first === r.last ? [r.first] : [r.first, r.last]));
      return { ...t, segments };
    });
    // The periods, anchors, sets and representations from the first and last segment of each period...
    const mpd = buildDvrMpd(condensed, o);
    // ...and what depends on every segment, from the summaries.
    const lastPeriod = mpd.periods[mpd.periods.length - 1];
    let maxSegMs = 0;
    for (const period of mpd.periods) {
      const disc = Number(period.id.slice(1));
      for (const set of period.adaptationSets) {
        for (const rep of set.representations) {
          const track = tracks.find((t) => t.description.name === rep.id)!;
          const run = runs.get(rep.id)!.get(disc)!;
          const desc = track.description;
          for (const p of run.pieces) maxSegMs = Math.max(maxSegMs, (p.maxTicks * 1000) / desc.timescale);
          const t = rep.segmentTemplate;
          const d = desc.segmentTargetTicks;
          const eligible =
            !o.ended &&
            period === lastPeriod &&
            keepsUp(
              {
                timescale: desc.timescale,
                segmentTargetTicks: d,
                partTargetTicks: track.partTargetTicks,
                segments: [{ ...run.last, parts: [] }],
                open: undefined,
                ended: false,
              },
              o.publishTimeMs,
            );
          let startNumber: number | null = null;
          if (eligible && d > 0) {
            for (const p of run.pieces) {
              const g = pieceGrid(p, t.presentationTimeOffset, d, track.partTargetTicks);
              if (g === null || (startNumber !== null && g !== startNumber)) {
                startNumber = null;
                break;
              }
              startNumber = g;
            }
          }
          rep.segmentTemplate =
            startNumber !== null
              ? { ...t, startNumber, durationTicks: d, timeline: undefined }
              : {
                  ...t,
                  startNumber: run.first.msn,
                  durationTicks: undefined,
                  timeline: mergedTimeline(run.pieces),
                };
        }
      }
    }
    mpd.maxSegmentDurationMs = Math.max(mpd.maxSegmentDurationMs, maxSegMs);
    return mpd;
  }

  /** Forgets a rendition's kept chunks that end before msn (they left the window: the run was trimmed). */
  forgetBefore(rendition: string, msn: number): void {
    const first = dvrChunkOf(msn);
    const kept = this.kept.get(rendition);
    if (kept) for (const c of kept.keys()) if (c < first) kept.delete(c);
    const middles = this.middles.get(rendition);
    if (middles) for (const k of middles.keys()) if (Number(k.split('-')[0]) < first) middles.delete(k);
  }

  /** Chunks kept now, over all renditions. */
  get size(): number {
    let n = 0;
    for (const m of this.kept.values()) n += m.size;
    return n;
  }

  /**
   * A rendition's view as runs per discontinuity sequence: its partial first and last chunks summarized now, the
   * whole chunks between them from the kept summaries, joined once per pair of end chunks (so a render that
   * crosses no chunk boundary merges a handful of pieces, whatever the window).
   */
  private periods(rendition: string, segs: readonly DvrSegment[]): Map<number, PeriodRun> {
    let kept = this.kept.get(rendition);
    if (!kept) this.kept.set(rendition, (kept = new Map()));
    const out = new Map<number, PeriodRun>();
    const add = (ps: readonly Piece[]): void => {
      for (const p of ps) {
        this.merged++;
        const r = out.get(p.disc);
        if (r) {
          r.last = p.last;
          r.pieces.push(p);
        } else out.set(p.disc, { first: p.first, last: p.last, pieces: [p] });
      }
    };
    // The view cut at chunk boundaries; a span is whole when it holds a chunk's DVR_CHUNK_SEGMENTS msns.
    const spans: Array<{ i: number; j: number; c: number; whole: boolean }> = [];
    let i = 0;
    while (i < segs.length) {
      const a = segs[i]!;
      const j = Math.min(
        segs.length,
        i + DVR_CHUNK_SEGMENTS - (a.msn - dvrChunkOf(a.msn) * DVR_CHUNK_SEGMENTS),
      );
      const whole = j - i === DVR_CHUNK_SEGMENTS && segs[j - 1]!.msn - a.msn === DVR_CHUNK_SEGMENTS - 1;
      spans.push({ i, j, c: dvrChunkOf(a.msn), whole });
      i = j;
    }
    const chunk = (sp: { i: number; j: number; c: number; whole: boolean }): Piece[] => {
      let ps = sp.whole ? kept.get(sp.c) : undefined;
      if (ps && !sameSpan(ps, segs[sp.i]!, segs[sp.j - 1]!)) ps = undefined;
      if (ps) this.reused++;
      else {
        ps = pieces(segs.slice(sp.i, sp.j));
        this.rendered++;
        if (sp.whole) {
          kept.set(sp.c, ps);
          if (kept.size > this.maxChunks) kept.delete(kept.keys().next().value!);
        }
      }
      return ps;
    };
    // The run of whole, consecutive chunks after the first partial one(s).
    let a = 0;
    while (a < spans.length && !spans[a]!.whole) a++;
    let b = a;
    while (b < spans.length && spans[b]!.whole && (b === a || spans[b]!.c === spans[b - 1]!.c + 1)) b++;
    for (let k = 0; k < a; k++) add(chunk(spans[k]!));
    if (b - a > 1) add(this.middle(rendition, spans.slice(a, b), segs, chunk));
    else if (b > a) add(chunk(spans[a]!));
    for (let k = b; k < spans.length; k++) add(chunk(spans[k]!));
    return out;
  }

  /** Whole consecutive chunks joined (join), kept for the next renders of a view with the same end chunks. */
  private middle(
    rendition: string,
    spans: ReadonlyArray<{ i: number; j: number; c: number; whole: boolean }>,
    segs: readonly DvrSegment[],
    chunk: (sp: { i: number; j: number; c: number; whole: boolean }) => Piece[],
  ): Piece[] {
    let middles = this.middles.get(rendition);
    if (!middles) this.middles.set(rendition, (middles = new Map()));
    const key = `${spans[0]!.c}-${spans[spans.length - 1]!.c}`;
    const from = segs[spans[0]!.i]!;
    const to = segs[spans[spans.length - 1]!.j - 1]!;
    const hit = middles.get(key);
    if (hit && sameSpan(hit, from, to)) return hit;
    const joined = join(spans.flatMap(chunk));
    middles.set(key, joined);
    if (middles.size > 8) middles.delete(middles.keys().next().value!);
    return joined;
  }
}

/** Whether kept pieces summarize the segments from a to b (msns never name other media; checked all the same). */
function sameSpan(ps: readonly Piece[], a: DvrSegment, b: DvrSegment): boolean {
  const x = ps[0]!.first;
  const y = ps[ps.length - 1]!.last;
  const same = (p: DvrSegment, q: DvrSegment): boolean =>
    p.msn === q.msn &&
    p.startTicks === q.startTicks &&
    p.durationTicks === q.durationTicks &&
    p.wallClockMs === q.wallClockMs &&
    p.discontinuitySeq === q.discontinuitySeq;
  return same(x, a) && same(y, b);
}
