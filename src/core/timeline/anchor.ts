import type { SegmentEntry } from './types.js';

/**
 * Whether a segment's own wall clock is not where its predecessor's (plus its duration) puts it, by a whole
 * millisecond or more (records are integer ms; fractional-ms durations leave less than 1 ms of rounding, never
 * tagged). A 1-2 ms step left untagged put a client's computed PDT that far off the record, enough for a range
 * taken from dvr.m3u8's PDTs to select the neighbouring segment (dvr.test.ts, cold-tier.test.ts in CI). The ingest keeps refining a young period's anchor (Timeline, anchorCalibrationTicks) after its first
 * segments were stored with an earlier estimate, so within a period the stored records can step earlier once or
 * a few times. Playlists then repeat EXT-X-PROGRAM-DATE-TIME at the step: every segment's PDT, as a client
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
