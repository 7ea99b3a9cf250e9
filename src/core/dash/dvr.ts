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
 * DVR_CHUNK_SEGMENTS msns, full chunks are kept (their segments never change), and a render merges the kept
 * summaries with the view's partial first and last chunks. buildMpd then builds the MPD from each period's first
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
  segments: readonly DvrSegment[];
  /** segmentTimeline(segments). */
  timeline: S[];
  maxTicks: number;
  /** numberGrid(segments, pto, d, tolerance) by "pto/d/tolerance" (null: off the grid). */
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
    out.push({ disc, segments: part, timeline: segmentTimeline(part), maxTicks, grid: new Map() });
    i = j;
  }
  return out;
}

function pieceGrid(p: Piece, pto: number, d: number, tolerance: number): number | null {
  const key = `${pto}/${d}/${tolerance}`;
  let g = p.grid.get(key);
  if (g === undefined) {
    g = numberGrid(p.segments as DvrSegment[], pto, d, tolerance)?.startNumber ?? null;
    p.grid.set(key, g);
  }
  return g;
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
  /** Chunk summaries computed and reused, for benchmarks and tests. */
  rendered = 0;
  reused = 0;

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
    const kept = this.kept.get(rendition);
    if (!kept) return;
    const first = dvrChunkOf(msn);
    for (const c of kept.keys()) if (c < first) kept.delete(c);
  }

  /** Chunks kept now, over all renditions. */
  get size(): number {
    let n = 0;
    for (const m of this.kept.values()) n += m.size;
    return n;
  }

  /** A rendition's view as runs per discontinuity sequence, from kept chunk summaries where it covers a chunk. */
  private periods(rendition: string, segs: readonly DvrSegment[]): Map<number, PeriodRun> {
    let kept = this.kept.get(rendition);
    if (!kept) this.kept.set(rendition, (kept = new Map()));
    const out = new Map<number, PeriodRun>();
    const add = (ps: readonly Piece[]): void => {
      for (const p of ps) {
        const r = out.get(p.disc);
        if (r) {
          r.last = p.segments[p.segments.length - 1]!;
          r.pieces.push(p);
        } else
          out.set(p.disc, { first: p.segments[0]!, last: p.segments[p.segments.length - 1]!, pieces: [p] });
      }
    };
    let i = 0;
    while (i < segs.length) {
      const a = segs[i]!;
      const j = Math.min(
        segs.length,
        i + DVR_CHUNK_SEGMENTS - (a.msn - dvrChunkOf(a.msn) * DVR_CHUNK_SEGMENTS),
      );
      const b = segs[j - 1]!;
      // A whole chunk: DVR_CHUNK_SEGMENTS consecutive msns from its first.
      const whole = j - i === DVR_CHUNK_SEGMENTS && b.msn - a.msn === DVR_CHUNK_SEGMENTS - 1;
      const c = dvrChunkOf(a.msn);
      let ps = whole ? kept.get(c) : undefined;
      if (ps && !sameSpan(ps, a, b)) ps = undefined;
      if (ps) this.reused++;
      else {
        ps = pieces(segs.slice(i, j));
        this.rendered++;
        if (whole) {
          kept.set(c, ps);
          if (kept.size > this.maxChunks) kept.delete(kept.keys().next().value!);
        }
      }
      add(ps);
      i = j;
    }
    return out;
  }
}

/** Whether kept pieces summarize the segments from a to b (msns never name other media; checked all the same). */
function sameSpan(ps: readonly Piece[], a: DvrSegment, b: DvrSegment): boolean {
  const x = ps[0]!.segments[0]!;
  const lp = ps[ps.length - 1]!;
  const y = lp.segments[lp.segments.length - 1]!;
  const same = (p: DvrSegment, q: DvrSegment): boolean =>
    p.msn === q.msn &&
    p.startTicks === q.startTicks &&
    p.durationTicks === q.durationTicks &&
    p.wallClockMs === q.wallClockMs &&
    p.discontinuitySeq === q.discontinuitySeq;
  return same(x, a) && same(y, b);
}
