/**
 * How far a live input's reading has fallen behind its publisher, and when to cut the backlog (issue #13).
 *
 * A transcoder slower than real time makes the ingest pause the publisher's socket (backpressure), and the media
 * waits in TCP buffers, at the encoder, and in ffmpeg's pipe: every viewer's latency grows with it, without bound
 * (48 s was seen). Nothing downstream can shorten that queue. This measures it as the tags are read: a tag's
 * arrival time minus its media time is constant while the input is read as fast as it is sent, and grows by exactly
 * the queue while it is not. The smallest such offset seen is the "on time" baseline; a tag's lag is its offset
 * above that baseline.
 *
 * Past `maxLagMs` the verdict is 'cut': the caller restarts the transcoder (a discontinuity) and drops media
 * ('drop') until a tag arrives less than `resumeLagMs` behind ('resume'), i.e. the queue has been read out, so the
 * stream continues at the live edge with a skip instead of ever further behind.
 *
 * The baseline may rise by at most `driftPpm` of the elapsed time (default 200 ppm, 0.72 s an hour): an encoder's
 * clock that runs slow against ours is not a backlog, while a queue growing faster than that is still caught. A
 * publisher's timestamps that jump (an encoder restarting its clock within one connection) start a new baseline.
 * Pure: the caller passes the arrival times.
 */

export type LagVerdict = 'pass' | 'cut' | 'drop' | 'resume';

/** Timestamps moving back more than this, or ahead of the wall clock by more than this, start a new baseline. */
const JUMP_MS = 2000;

export class InputLag {
  private baseline: number | undefined;
  private baselineAt = 0;
  private lastTs: number | undefined;
  private dropping = false;
  /** The lag of the last tag seen (ms). */
  lagMs = 0;

  constructor(
    /** Cut past this; 0 never cuts. */
    private readonly maxLagMs: number,
    private readonly resumeLagMs = Math.min(1000, maxLagMs / 2),
    private readonly driftPpm = 200,
  ) {}

  /** Whether media is being dropped after a cut. */
  get cutting(): boolean {
    return this.dropping;
  }

  /** The verdict for a media tag (media time tsMs, read at arrivalMs). */
  observe(tsMs: number, arrivalMs: number): LagVerdict {
    const offset = arrivalMs - tsMs;
    const jumped =
      this.lastTs !== undefined &&
      (tsMs < this.lastTs - JUMP_MS || (this.baseline !== undefined && offset < this.baseline - JUMP_MS));
    this.lastTs = tsMs;
    if (this.baseline === undefined || jumped) {
      this.baseline = offset;
      this.baselineAt = arrivalMs;
    } else {
      const allowed = this.baseline + ((arrivalMs - this.baselineAt) * this.driftPpm) / 1e6;
      this.baseline = Math.min(offset, allowed);
      this.baselineAt = arrivalMs;
    }
    this.lagMs = offset - this.baseline;
    if (this.maxLagMs <= 0) return 'pass';
    if (this.dropping) {
      if (this.lagMs > this.resumeLagMs) return 'drop';
      this.dropping = false;
      return 'resume';
    }
    if (this.lagMs > this.maxLagMs) {
      this.dropping = true;
      return 'cut';
    }
    return 'pass';
  }
}
