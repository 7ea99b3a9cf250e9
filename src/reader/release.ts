/**
 * Timing the release of held requests, measured inside the reader (issues #13, #15): for each held LL-HLS
 * blocking reload a manifest event releases, the time from the reader hearing that event to the reload's answer
 * being written to its socket (`wellspring_reader_release_seconds`, one observation per reload), and per release
 * batch the spread from the first to the last write (`wellspring_reader_release_spread_seconds`). Measured here,
 * not at the clients, the figure does not depend on how busy the client processes are.
 *
 * Cheap by construction: one `performance.now()` per reload, taken right after its answer was handed to Node
 * (`res.end` writes a small answer to the kernel synchronously when the socket can take it); the histograms are
 * fed after the write loop. An answer the socket could not take at once (its send buffer full, or the connection
 * still busy with an earlier response) is timed when Node reports it written ('finish'); one whose client went
 * away first is not timed.
 *
 *   const clock = new ReleaseClock(metrics, heardAt);
 *   for (const w of satisfied) { sendPrepared(w.x, answer); clock.written(w.x.res); }
 *   clock.end();
 */
import type { ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';

export class ReleaseClock {
  /** Write times (performance.now()) of the answers written so far. */
  private readonly times: number[] = [];
  /** Answers not yet written, plus one until end(). */
  private pending = 1;
  private written_ = 0;

  constructor(
    private readonly metrics: Metrics,
    /** performance.now() when the reader heard the event that releases this batch. */
    private readonly heardAt: number,
  ) {}

  /** Reloads answered in this batch so far. */
  get count(): number {
    return this.written_;
  }

  /** Call right after a held request's answer was handed to its response (res.end). */
  written(res: ServerResponse): void {
    this.written_++;
    // Flushed to the kernel already: nothing left in Node's buffers for this connection (writableLength
    // counts the response's own buffer and its socket's).
    if (res.socket && res.writableLength === 0) {
      this.times.push(performance.now());
      return;
    }
    this.pending++;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      this.times.push(performance.now());
      this.settle();
    };
    const close = (): void => {
      if (settled) return;
      settled = true;
      this.settle();
    };
    res.once('finish', finish);
    res.once('close', close);
  }

  /** The write loop is over: the batch is observed once every answer is written or abandoned. */
  end(): void {
    this.settle();
  }

  private settle(): void {
    if (--this.pending > 0) return;
    const t = this.times;
    if (t.length === 0) return;
    const h = this.metrics.readerRelease;
    let first = Infinity;
    let last = -Infinity;
    for (const at of t) {
      h.observe((at - this.heardAt) / 1000);
      if (at < first) first = at;
      if (at > last) last = at;
    }
    this.metrics.readerReleaseSpread.observe((last - first) / 1000);
  }
}
