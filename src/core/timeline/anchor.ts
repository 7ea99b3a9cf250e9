import type { SegmentEntry } from './types.js';

/**
 * Whether a segment's own wall clock is not where its predecessor's (plus its duration) puts it, by a whole
 * millisecond or more: records are integer ms, so any step is tagged, and the rounding of fractional-ms durations
 * (under 1 ms) never is. The ingest keeps refining a young period's anchor (Timeline, anchorCalibrationTicks)
 * after its first segments were stored with an earlier estimate, so within a period the stored records can step
 * earlier once or a few times. Playlists then repeat EXT-X-PROGRAM-DATE-TIME at the step: every segment's PDT, as a client
 * computes it, is its own stored record, the one the wall-clock lookups (time-shift, harvest) search.
 */
export function wallClockSteps(
  prev: Pick<SegmentEntry, 'wallClockMs' | 'durationTicks'> | undefined,
  seg: Pick<SegmentEntry, 'wallClockMs'>,
  timescale: number,
): boolean {
  if (!prev) return false;
  return Math.abs(seg.wallClockMs - (prev.wallClockMs + (prev.durationTicks * 1000) / timescale)) >= 1;
}
