/**
 * Sequence numbers that survive the loss of the store's counters. A timeline's numbers (media sequence,
 * discontinuity sequence, init id) name immutable URLs, so they must never be issued twice. The store keeps
 * counters that only increase; if the store loses them (Redis restarted without persistence, flushed), a new
 * timeline's URL counters start at a floor derived from the wall clock instead of 0: the number of half segment durations
 * since a fixed epoch. A stream's numbers advance by one per segment (at most one discontinuity and one init
 * per segment), so as long as its segments average more than half the target duration and the clock does not
 * go backwards, the floor at any later instant is above every number it issued. Pure: time is passed in.
 */
import type { TimelineResume } from './timeline.js';

/** 2024-01-01T00:00:00Z: the floor counts from here. */
export const NUMBERING_EPOCH_MS = Date.UTC(2024, 0, 1);

/** The clock-derived lowest number a timeline started at nowMs may use, for segments of segmentSec. */
export function numberingFloor(nowMs: number, segmentSec: number): number {
  const stepMs = (segmentSec * 1000) / 2;
  return Math.max(0, Math.floor((nowMs - NUMBERING_EPOCH_MS) / stepMs));
}

/**
 * Where a new timeline resumes: the stored counters when the store has them (a reconnect continues the numbering
 * without a gap), else the clock floor for the counters that name URLs, the media sequence and the init id (a new
 * stream, or a store that lost its counters). The discontinuity sequence names no URL and stays as stored: hls.js
 * does not play a playlist whose EXT-X-DISCONTINUITY-SEQUENCE is that large (test/e2e/origin.test.ts, measured).
 */
export function resumeAbove(stored: TimelineResume, nowMs: number, segmentSec: number): TimelineResume {
  if (stored.resumed) return stored;
  const floor = numberingFloor(nowMs, segmentSec);
  return {
    nextMsn: Math.max(stored.nextMsn, floor),
    lastDiscontinuitySeq: stored.lastDiscontinuitySeq,
    initId: Math.max(stored.initId, floor),
    resumed: false,
  };
}

/**
 * The lowest version a stream's directory entry may carry when marked at nowMs: milliseconds since the epoch.
 * Versions (playlist ETags) only increase; a store that lost the stream starts counting again from this floor,
 * which stays ahead of a stream's writes as long as they average fewer than 1000 a second.
 */
export function versionFloor(nowMs: number): number {
  return Math.max(0, Math.floor(nowMs - NUMBERING_EPOCH_MS));
}
