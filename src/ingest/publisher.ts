/**
 * Writes a stream's media into Redis in order, one operation at a time. While Redis is unreachable it keeps
 * the encoder side going: operations wait in a bounded buffer and are retried with backoff; past the bound the
 * oldest parts are dropped first (their segment still carries the bytes), then the oldest segments. Every drop
 * is counted. A dropped segment leaves a sequence gap that the manifest side turns into a fresh playlist start.
 */
import { type Logger, OutageLog } from '../log.js';
import type { Metrics } from '../metrics.js';

export interface PublishOp {
  kind: 'init' | 'part' | 'segment' | 'meta';
  rendition: string;
  msn?: number;
  /** Part index within its segment (part ops). */
  partIndex?: number;
  bytes: number;
  /** When the object became complete in the ingest (performance.now()). */
  readyAt: number;
  /** Performs the write. `partsDropped` tells a segment op that some of its parts never reached Redis. */
  run(partsDropped: boolean): Promise<unknown>;
}

export interface PublisherHooks {
  /** Called after an op is durable in Redis, with its latency and what the write returned. */
  onPublished?(op: PublishOp, latencyMs: number, result: unknown): void;
  /** Called when a write succeeds after an outage (the store may have lost what it had: re-publish it). */
  onRecovered?(): void;
}

export class Publisher {
  private queue: PublishOp[] = [];
  private pendingBytes = 0;
  private running = false;
  /** The op being written (stays first in the queue until it succeeds). */
  private inFlight: PublishOp | undefined;
  private readonly outage: OutageLog;
  /** rendition:msn of segments that lost parts. */
  private partsDropped = new Set<string>();
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly stream: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly maxBytes: number,
    private readonly hooks: PublisherHooks = {},
  ) {
    this.outage = new OutageLog(log, 'Redis (media writes)');
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Queues a write; `first`: ahead of everything not yet being written (re-publishing what the store lost). */
  enqueue(op: PublishOp, first = false): void {
    if (op.kind === 'part' && this.partsDropped.has(`${op.rendition}:${op.msn}`)) {
      this.metrics.publishDropped.inc({ stream: this.stream, kind: 'part' });
      return;
    }
    if (first)
      this.queue.splice(this.queue[0] !== undefined && this.queue[0] === this.inFlight ? 1 : 0, 0, op);
    else this.queue.push(op);
    this.pendingBytes += op.bytes;
    this.enforceBound();
    this.metrics.publishPendingBytes.set({ stream: this.stream }, this.pendingBytes);
    if (!this.running) void this.drain();
  }

  /** Resolves when everything queued so far is written (or the publisher is closed). */
  async idle(timeoutMs = 10_000): Promise<boolean> {
    if (this.queue.length === 0 && !this.running) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private enforceBound(): void {
    if (this.pendingBytes <= this.maxBytes) return;
    // Parts first: a late part is worthless to a low-latency player, and its segment carries the same bytes.
    for (let i = 0; i < this.queue.length && this.pendingBytes > this.maxBytes;) {
      const op = this.queue[i]!;
      if (op.kind === 'part' && !(i === 0 && this.running)) {
        this.queue.splice(i, 1);
        this.pendingBytes -= op.bytes;
        this.partsDropped.add(`${op.rendition}:${op.msn}`);
        this.metrics.publishDropped.inc({ stream: this.stream, kind: 'part' });
      } else i++;
    }
    for (let i = 0; i < this.queue.length && this.pendingBytes > this.maxBytes;) {
      const op = this.queue[i]!;
      if (op.kind === 'segment' && !(i === 0 && this.running)) {
        this.queue.splice(i, 1);
        this.pendingBytes -= op.bytes;
        this.metrics.publishDropped.inc({ stream: this.stream, kind: 'segment' });
        this.log.warn(
          { rendition: op.rendition, msn: op.msn },
          'publish buffer full: dropped the oldest unpublished segment',
        );
      } else i++;
    }
  }

  private async drain(): Promise<void> {
    this.running = true;
    let backoff = 50;
    while (this.queue.length > 0 && !this.closed) {
      const op = this.queue[0]!;
      const key = `${op.rendition}:${op.msn}`;
      this.inFlight = op;
      try {
        const result = await op.run(op.kind === 'segment' && this.partsDropped.has(key));
        this.inFlight = undefined;
        if (op.kind === 'segment') this.partsDropped.delete(key);
        const recovered = this.outage.down;
        this.outage.ok({ pending: this.queue.length, pendingBytes: this.pendingBytes });
        backoff = 50;
        if (this.queue[0] === op) {
          this.queue.shift();
          this.pendingBytes -= op.bytes;
        }
        if (recovered) this.hooks.onRecovered?.();
        this.metrics.publishPendingBytes.set({ stream: this.stream }, this.pendingBytes);
        const latencyMs = performance.now() - op.readyAt;
        this.metrics.publishLatency.observe({ kind: op.kind }, latencyMs / 1000);
        this.hooks.onPublished?.(op, latencyMs, result);
      } catch (err) {
        this.inFlight = undefined;
        this.metrics.redisErrors.inc({ component: 'publisher' });
        // One line when the store goes away, one when it is back (with the count in between): no stack per retry.
        this.outage.failed(err, {
          pending: this.queue.length,
          pendingBytes: this.pendingBytes,
          kind: op.kind,
          rendition: op.rendition,
          msn: op.msn,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
    this.running = false;
    if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
