import { TimelineError } from '../errors.js';
import type { ChunkInfo } from '../isobmff/fragment.js';
import type { PartEntry, SegmentEntry, TimelineEvent, TimelineSnapshot } from './types.js';

export interface TimelineConfig {
  timescale: number;
  /** Segment target duration. A segment ends at the first sync sample at or after its boundary. */
  segmentTargetTicks: number;
  /** Part target duration (LL-HLS PART-TARGET), e.g. 0.2-1 s. */
  partTargetTicks: number;
  /** Complete segments kept (the DVR window); the live playlist window is chosen at render time. */
  dvrWindowTicks: number;
  /** Segments at the end of the timeline that keep their part list. Default 4. */
  partRetentionSegments?: number;
  /**
   * The encoder guarantees a sync sample at every segment boundary (fixed GOP = segment duration, as the
   * ingest's ffmpeg is set up): close a segment the moment it reaches its boundary, not when the next
   * chunk arrives. If a following chunk turns out not to be a sync sample, that segment is marked dependent.
   */
  eagerSegmentClose?: boolean;
  /**
   * How much of a period's media (from its first chunk) the wall-clock anchor keeps being refined over. Default
   * 15 s: a source that connects late and then catches up (measured: 5.4 s on a loaded 2-core machine) is only
   * at its steady-state delay some seconds in, long after the first segment closed.
   */
  anchorCalibrationTicks?: number;
}

/** Default anchorCalibrationTicks, in seconds of media. */
export const ANCHOR_CALIBRATION_SEC = 15;

/** Where sequence numbering resumes: read from the store so numbers only ever increase. */
export interface TimelineResume {
  nextMsn: number;
  /** Discontinuity sequence of the last segment written before; the next segment gets one more. */
  lastDiscontinuitySeq: number;
  /** Init id to use for this run's first init segment. */
  initId: number;
  /** Whether anything was written before (then the first new segment is a discontinuity). */
  resumed: boolean;
}

/**
 * The live timeline of one rendition: groups CMAF chunks into parts and segments, numbers them, anchors them
 * to the wall clock and keeps a sliding DVR window. Durations are integer ticks in the track timescale.
 * Pure: the caller passes in wall-clock times.
 */
export class Timeline {
  private readonly cfg: Required<TimelineConfig>;
  /** Exclusive upper bound for a segment's duration: its EXTINF must round to <= the target duration. */
  readonly segmentCapTicks: number;
  private segments: SegmentEntry[] = [];
  private dvrTicks = 0;
  private open: SegmentEntry | undefined;
  private openPart: PartEntry | undefined;
  private nextMsn: number;
  private discSeq: number;
  private initId: number;
  private pendingDiscontinuity: boolean;
  /** Period anchor: first decode time of the period and the wall-clock time of that instant. */
  private epochTicks = 0;
  private epochWallMs = 0;
  private hasEpoch = false;
  /** The anchor is still being refined: within anchorCalibrationTicks of the period's first chunk. */
  private calibrating = false;
  /** Decode time expected for the next chunk. */
  private expectedTicks: number | undefined;
  private maxPartTicks = 0;
  private ended = false;

  constructor(config: TimelineConfig, resume?: TimelineResume) {
    if (!(config.timescale > 0) || !Number.isInteger(config.timescale))
      throw new TimelineError('timescale must be a positive integer');
    if (!(config.segmentTargetTicks > 0)) throw new TimelineError('segmentTargetTicks must be positive');
    if (!(config.partTargetTicks > 0) || config.partTargetTicks > config.segmentTargetTicks) {
      throw new TimelineError('partTargetTicks must be positive and at most segmentTargetTicks');
    }
    this.cfg = {
      partRetentionSegments: 4,
      eagerSegmentClose: false,
      anchorCalibrationTicks: ANCHOR_CALIBRATION_SEC * config.timescale,
      ...config,
    };
    const targetDurationSec = Math.ceil(config.segmentTargetTicks / config.timescale);
    this.segmentCapTicks = ((2 * targetDurationSec + 1) * config.timescale) / 2;
    this.nextMsn = resume?.nextMsn ?? 0;
    this.discSeq = resume?.lastDiscontinuitySeq ?? 0;
    this.initId = resume?.initId ?? 0;
    this.pendingDiscontinuity = resume?.resumed ?? false;
  }

  get timescale(): number {
    return this.cfg.timescale;
  }

  /** Media sequence number the next new segment will get. */
  get nextMediaSequence(): number {
    return this.nextMsn;
  }

  get discontinuitySequence(): number {
    return this.discSeq;
  }

  get currentInitId(): number {
    return this.initId;
  }

  /** The init id the next segment will carry: publish a new init segment under this id before its media. */
  get upcomingInitId(): number {
    return this.pendingDiscontinuity ? this.initId + 1 : this.initId;
  }

  /** True if nothing was pushed since the start or the last discontinuity. */
  get atPeriodStart(): boolean {
    return !this.hasEpoch;
  }

  /**
   * Adds a chunk. wallClockMs is when the chunk's first sample was captured or, failing that, received minus
   * its duration; it anchors the period on the first chunk after a discontinuity.
   */
  push(chunk: ChunkInfo, wallClockMs: number): TimelineEvent[] {
    if (!(chunk.durationTicks > 0)) throw new TimelineError(`chunk ${chunk.sequenceNumber} has no duration`);
    const events: TimelineEvent[] = [];
    this.ended = false;
    // A timestamp jump (backwards, or forward by more than a chunk and half a second) is a discontinuity.
    if (this.expectedTicks !== undefined) {
      const drift = chunk.baseMediaDecodeTime - this.expectedTicks;
      const tolerance = Math.max(chunk.durationTicks, this.cfg.timescale / 2);
      if (drift < 0 || drift > tolerance) this.discontinuity(events);
    }
    if (!this.hasEpoch) {
      this.epochTicks = chunk.baseMediaDecodeTime;
      this.epochWallMs = wallClockMs;
      this.hasEpoch = true;
      this.calibrating = true;
    } else if (this.calibrating) {
      if (chunk.baseMediaDecodeTime - this.epochTicks >= this.cfg.anchorCalibrationTicks)
        this.calibrating = false;
      else this.refineAnchor(chunk, wallClockMs);
    }
    this.expectedTicks = chunk.baseMediaDecodeTime + chunk.durationTicks;

    const seg = this.open;
    if (seg) {
      const boundaryReached = seg.startTicks + seg.durationTicks >= this.nextBoundary(seg);
      const wouldExceedCap = seg.durationTicks + chunk.durationTicks >= this.segmentCapTicks;
      if ((boundaryReached && chunk.startsWithSync) || wouldExceedCap) this.closeSegment(events);
    }
    const cur = this.open ?? this.openSegment(chunk);
    if (!this.openPart) {
      this.openPart = {
        msn: cur.msn,
        index: cur.parts.length,
        startTicks: chunk.baseMediaDecodeTime,
        durationTicks: 0,
        independent: chunk.startsWithSync,
        byteLength: 0,
      };
    }
    const part = this.openPart;
    part.durationTicks += chunk.durationTicks;
    part.byteLength += chunk.byteLength;
    cur.durationTicks += chunk.durationTicks;
    cur.byteLength += chunk.byteLength;
    events.push({ type: 'chunk', msn: cur.msn, partIndex: part.index });

    if (part.durationTicks >= this.cfg.partTargetTicks) this.closePart(events);
    if (this.cfg.eagerSegmentClose && cur.startTicks + cur.durationTicks >= this.nextBoundary(cur))
      this.closeSegment(events);
    return events;
  }

  /**
   * Marks a discontinuity (encoder reconnect, transcoder restart): the open segment is closed as it is, and the
   * next segment starts a new period with the next discontinuity sequence number and a new init id.
   */
  discontinuity(events: TimelineEvent[] = []): TimelineEvent[] {
    this.closeSegment(events);
    this.pendingDiscontinuity = true;
    this.hasEpoch = false;
    this.expectedTicks = undefined;
    return events;
  }

  /** The publisher stopped: close what is open. */
  end(): TimelineEvent[] {
    const events: TimelineEvent[] = [];
    this.closeSegment(events);
    this.ended = true;
    return events;
  }

  snapshot(): TimelineSnapshot {
    const open = this.open ? { ...this.open, parts: [...this.open.parts] } : undefined;
    return {
      timescale: this.cfg.timescale,
      segmentTargetTicks: this.cfg.segmentTargetTicks,
      partTargetTicks: Math.max(this.cfg.partTargetTicks, this.maxPartTicks),
      segments: [...this.segments],
      open,
      ended: this.ended,
    };
  }

  /**
   * The first chunks of a period arrive late and in a burst (the transcoder probes its input, then catches up;
   * an encoder that connected late catches up too), so the first chunk alone would anchor the period's wall
   * clock up to a second or more after the media was captured, and every player's latency arithmetic (DASH
   * period start, PROGRAM-DATE-TIME) with it. For the period's first anchorCalibrationTicks of media, the anchor
   * follows the earliest arrival seen for any chunk, counted back by its media offset: the steady-state pipeline
   * delay. It only moves earlier. Segments opened after a move carry the new anchor; segments already closed keep
   * the one they were published with, so renderers take a period's anchor from its newest segment
   * (periodAnchor in ./anchor.ts).
   */
  private refineAnchor(chunk: ChunkInfo, wallClockMs: number): void {
    const offsetMs = Math.round(((chunk.baseMediaDecodeTime - this.epochTicks) * 1000) / this.cfg.timescale);
    const candidate = wallClockMs - offsetMs;
    if (candidate >= this.epochWallMs - 1) return; // millisecond rounding of the arrival times is not news
    this.epochWallMs = candidate;
    const seg = this.open;
    if (seg && seg.periodStartTicks === this.epochTicks) {
      seg.periodWallClockMs = candidate;
      seg.wallClockMs =
        candidate + Math.round(((seg.startTicks - this.epochTicks) * 1000) / this.cfg.timescale);
    }
  }

  /** The first multiple of the segment target (counted from the period's epoch) after the segment's start. */
  private nextBoundary(seg: SegmentEntry): number {
    const target = this.cfg.segmentTargetTicks;
    const rel = seg.startTicks - this.epochTicks;
    return this.epochTicks + (Math.floor(rel / target) + 1) * target;
  }

  private openSegment(chunk: ChunkInfo): SegmentEntry {
    const discontinuity = this.pendingDiscontinuity;
    if (discontinuity) {
      this.discSeq += 1;
      this.initId += 1;
      this.pendingDiscontinuity = false;
    }
    const wallClockMs =
      this.epochWallMs +
      Math.round(((chunk.baseMediaDecodeTime - this.epochTicks) * 1000) / this.cfg.timescale);
    this.open = {
      msn: this.nextMsn++,
      discontinuitySeq: this.discSeq,
      discontinuity,
      initId: this.initId,
      startTicks: chunk.baseMediaDecodeTime,
      durationTicks: 0,
      independent: chunk.startsWithSync,
      byteLength: 0,
      wallClockMs,
      periodStartTicks: this.epochTicks,
      periodWallClockMs: this.epochWallMs,
      parts: [],
    };
    return this.open;
  }

  private closePart(events: TimelineEvent[]): void {
    const part = this.openPart;
    const seg = this.open;
    if (!part || !seg) return;
    this.openPart = undefined;
    seg.parts.push(part);
    if (part.durationTicks > this.maxPartTicks) this.maxPartTicks = part.durationTicks;
    events.push({ type: 'part', part, segment: seg });
  }

  private closeSegment(events: TimelineEvent[]): void {
    this.closePart(events);
    const seg = this.open;
    if (!seg) return;
    this.open = undefined;
    this.segments.push(seg);
    this.dvrTicks += seg.durationTicks;
    events.push({ type: 'segment', segment: seg });
    // Sliding DVR window: drop whole segments from the front while the rest still covers the window.
    while (
      this.segments.length > 1 &&
      this.dvrTicks - this.segments[0]!.durationTicks >= this.cfg.dvrWindowTicks
    ) {
      this.dvrTicks -= this.segments.shift()!.durationTicks;
    }
    // Old segments drop their part lists (copy, so snapshots already handed out stay intact).
    const keep = this.cfg.partRetentionSegments;
    const i = this.segments.length - 1 - keep;
    if (i >= 0 && this.segments[i]!.parts.length > 0) this.segments[i] = { ...this.segments[i]!, parts: [] };
  }
}
