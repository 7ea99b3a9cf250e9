import type { SegmentEntry } from './types.js';

/** Where a period's newest segment places the period's start on the wall clock (PROGRAM-DATE-TIME space). */
export interface PeriodAnchor {
  periodStartTicks: number;
  wallClockMs: number;
}

/**
 * Each period's anchor (by discontinuity sequence) as its newest listed segment carries it. The ingest keeps
 * refining a young period's anchor (Timeline, anchorCalibrationTicks) after its first segments were published
 * with a later estimate; the newest segment has the best one, and every segment of the period is placed on the
 * wall clock from it, so a playlist never mixes two estimates. Exact: for segments of one estimate this gives
 * back each segment's own wallClockMs to the millisecond.
 */
export function periodAnchors(
  segments: readonly SegmentEntry[],
  timescale: number,
): Map<number, PeriodAnchor> {
  const anchors = new Map<number, PeriodAnchor>();
  for (const s of segments)
    anchors.set(s.discontinuitySeq, {
      periodStartTicks: s.periodStartTicks,
      wallClockMs: s.wallClockMs - Math.round(((s.startTicks - s.periodStartTicks) * 1000) / timescale),
    });
  return anchors;
}

/** When a segment's first sample was captured, on its period's newest anchor (else its own record). */
export function anchoredWallClockMs(
  seg: SegmentEntry,
  anchors: ReadonlyMap<number, PeriodAnchor>,
  timescale: number,
): number {
  const a = anchors.get(seg.discontinuitySeq);
  if (!a || a.periodStartTicks !== seg.periodStartTicks) return seg.wallClockMs;
  return a.wallClockMs + Math.round(((seg.startTicks - a.periodStartTicks) * 1000) / timescale);
}
