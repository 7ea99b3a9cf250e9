/**
 * How much of a stream is kept and listed, derived from its windows, in one place: the store trims with it, the
 * ingest and the renderer read with it, the reader times out with the target duration.
 */
import { type ObjectTtls, type WindowSettings, hotDvrSec, objectTtls } from './ttl.js';

/**
 * Segments whose part lists are kept: enough for the parts listed within three target durations of the
 * playlist's end plus the open segment (RFC 8216bis 6.2.2), with margin.
 */
export const PART_SEGMENTS = 5;

export interface Retention {
  /**
   * Complete segments kept in the hot timeline (the hot part of the DVR window plus the one filling and one of
   * margin; a cold tier's SegmentArchive lists the rest).
   */
  segmentsKept: number;
  /** Segments that keep their part lists. */
  partSegmentsKept: number;
  /** Segments a live playlist render needs: the live window plus margin. */
  liveSegmentsLoaded: number;
  /** EXT-X-TARGETDURATION configured for the stream (a render may raise it; see targetDurationSec). */
  targetDurationSec: number;
  ttls: ObjectTtls;
}

export function retention(s: WindowSettings): Retention {
  const segmentsKept = Math.ceil(hotDvrSec(s) / s.segmentSec) + 2;
  return {
    segmentsKept,
    partSegmentsKept: PART_SEGMENTS,
    liveSegmentsLoaded: Math.min(segmentsKept, Math.ceil(s.windowSec / s.segmentSec) + 3),
    targetDurationSec: Math.ceil(s.segmentSec),
    ttls: objectTtls(s),
  };
}

/**
 * RFC 8216bis 6.2.5.2: a blocking playlist request that cannot be satisfied within three target durations gets
 * a 503; the same bound holds a preload-hinted part or an in-progress segment.
 */
export function blockingTimeoutMs(targetDurationSec: number): number {
  return 3 * targetDurationSec * 1000;
}
