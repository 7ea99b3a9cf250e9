/** A partial segment (LL-HLS EXT-X-PART): one or more CMAF chunks of one segment. */
export interface PartEntry {
  /** Media sequence number of the segment this part belongs to. */
  msn: number;
  /** Index of the part within its segment, from 0. */
  index: number;
  startTicks: number;
  durationTicks: number;
  /** Starts with a sync sample (EXT-X-PART INDEPENDENT=YES). */
  independent: boolean;
  byteLength: number;
}

/** A media segment. Complete segments have a final duration; the open one is still growing. */
export interface SegmentEntry {
  msn: number;
  /** Discontinuity sequence number of this segment (count of discontinuities before it, ever). */
  discontinuitySeq: number;
  /** First segment after a discontinuity (encoder reconnect, transcoder restart, timestamp jump). */
  discontinuity: boolean;
  /** Identifies the init segment this segment decodes with; changes only at a discontinuity. */
  initId: number;
  startTicks: number;
  durationTicks: number;
  /** Starts with a sync sample. */
  independent: boolean;
  byteLength: number;
  /** Wall-clock time of the segment's first sample (EXT-X-PROGRAM-DATE-TIME), Unix ms. */
  wallClockMs: number;
  /** Decode time where this segment's period (the run since the last discontinuity) began. */
  periodStartTicks: number;
  /** Wall-clock time of periodStartTicks, Unix ms: the period's anchor (DASH Period@start). */
  periodWallClockMs: number;
  /** Parts, kept only for recent segments (older ones drop them, as LL-HLS playlists do). */
  parts: PartEntry[];
  /** Open segment only: its last part is published and it closes next (the next part is the next segment's). */
  closing?: boolean;
}

/**
 * A rendition's timeline as plain data: what the renderers read. The ingest produces it from a Timeline;
 * the manifest worker rebuilds the same shape from the store.
 */
export interface TimelineSnapshot {
  timescale: number;
  /** Configured segment duration. */
  segmentTargetTicks: number;
  /** Part target to advertise: the configured one, or the longest part seen if that was longer. */
  partTargetTicks: number;
  /** Complete segments in the DVR window, oldest first. */
  segments: SegmentEntry[];
  /** The segment being filled (its parts so far), if any. */
  open: SegmentEntry | undefined;
  /** True once the publisher has stopped and the last segment is complete. */
  ended: boolean;
}

export type TimelineEvent =
  /** The chunk just pushed belongs to this part (append its bytes to the part in progress). */
  | { type: 'chunk'; msn: number; partIndex: number }
  /** A part is complete: its bytes are the chunks appended since the previous part event. */
  | { type: 'part'; part: PartEntry; segment: SegmentEntry }
  /** A segment is complete: its bytes are its parts' bytes in order. */
  | { type: 'segment'; segment: SegmentEntry };
