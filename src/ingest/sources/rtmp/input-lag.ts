/**
 * How far a live input's reading has fallen behind its publisher, and when to cut the backlog (issue #13).
 *
 * A transcoder slower than real time makes the ingest pause the publisher's socket (backpressure), and the media
 * waits in TCP buffers, at the encoder, and in ffmpeg's pipe: every viewer's latency grows with it, without bound
 * (48 s was seen). Nothing downstream can shorten that queue. This measures it as the tags are read: a tag's
 * arrival time minus its media time is constant while the input is read as fast as it is sent, and grows by exactly
 * the queue while it is not. The smallest such offset seen (per track: audio and video timestamps may be skewed) is
 * the "on time" baseline; a tag's lag is its offset above its track's baseline.
 *
 * Past `maxLagMs` the verdict is 'cut': the caller restarts the transcoder (a discontinuity) and drops media
 * ('drop') until the queue has been read out ('resume'): a tag arrives less than `resumeLagMs` behind, or the offset
 * has stopped falling for a second of arrivals (what is left is then a shift of the publisher's clock, not a queue,
 * and becomes the new baseline). So dropping always ends once the input is read on time again.
 *
 * The baseline may rise by at most `driftPpm` of the elapsed time (default 2,000 ppm, 7.2 s an hour): an encoder
 * clock running slow against ours (crystals: well under 100 ppm; 29.97 fps stamped as 30: 1,000 ppm) is not a
 * backlog, while a transcoder below 0.998x real time is still caught. Timestamps moving back more than 2 s start a
 * new baseline for their track. Pure: the caller passes arrival times from a monotonic clock.
 */

export type LagVerdict = 'pass' | 'cut' | 'drop' | 'resume';

/** Timestamps moving back more than this, or ahead of the wall clock by more than this, start a new baseline. */
const JUMP_MS = 2000;
/** While dropping: the offset stopped falling (by more than STILL_MS) for this long = the queue is read out. */
const READ_OUT_MS = 1000;
const STILL_MS = 50;

interface Track {
  baseline: number;
  baselineAt: number;
  lastTs: number;
}

export class InputLag {
  private readonly tracks = new Map<string, Track>();
  private dropping = false;
  /** While dropping: the lowest offset seen and when. */
  private dropLow = Infinity;
  private dropLowAt = 0;
  /** The lag of the last tag seen (ms). */
  lagMs = 0;

  constructor(
    /** Cut past this; 0 never cuts. */
    private readonly maxLagMs: number,
    private readonly resumeLagMs = Math.min(1000, maxLagMs / 2),
    private readonly driftPpm = 2000,
  ) {}

  /** Whether media is being dropped after a cut. */
  get cutting(): boolean {
    return this.dropping;
  }

  /** Forgets every baseline (e.g. after the caller paused reading on purpose: that wait is not a queue). */
  reset(): void {
    this.tracks.clear();
  }

  /** The verdict for a media tag of `track` (media time tsMs, read at arrivalMs on a monotonic clock). */
  observe(tsMs: number, arrivalMs: number, track = 'av'): LagVerdict {
    const offset = arrivalMs - tsMs;
    const t = this.tracks.get(track);
    if (!t || tsMs < t.lastTs - JUMP_MS || offset < t.baseline - JUMP_MS) {
      this.tracks.set(track, { baseline: offset, baselineAt: arrivalMs, lastTs: tsMs });
    } else {
      t.baseline = Math.min(offset, t.baseline + ((arrivalMs - t.baselineAt) * this.driftPpm) / 1e6);
      t.baselineAt = arrivalMs;
      t.lastTs = tsMs;
    }
    const base = this.tracks.get(track)!;
    this.lagMs = offset - base.baseline;
    if (this.maxLagMs <= 0) return 'pass';
    if (this.dropping) {
      if (offset < this.dropLow - STILL_MS) {
        this.dropLow = offset;
        this.dropLowAt = arrivalMs;
      }
      const readOut = arrivalMs - this.dropLowAt >= READ_OUT_MS;
      if (this.lagMs > this.resumeLagMs && !readOut) return 'drop';
      if (readOut && this.lagMs > this.resumeLagMs) {
        // Read at the publisher's pace again, yet above the old baseline: its clock moved; start new baselines.
        this.tracks.clear();
        this.tracks.set(track, { baseline: offset, baselineAt: arrivalMs, lastTs: tsMs });
        this.lagMs = 0;
      }
      this.dropping = false;
      return 'resume';
    }
    if (this.lagMs > this.maxLagMs) {
      this.dropping = true;
      this.dropLow = offset;
      this.dropLowAt = arrivalMs;
      return 'cut';
    }
    return 'pass';
  }
}
