/**
 * Issue #11: copies every complete segment and init segment the ingest stored in the hot tier to the cold tier,
 * then records the segment in the SegmentArchive (bytes before references). Behind the live path: the ingest
 * only enqueues (never awaits), the queue is bounded by items and bytes, and writes are retried.
 * - Tier down (ColdTierUnavailableError, or the archive's store unreachable): the head of the queue is retried
 *   with exponential backoff; the backlog grows and shows in metrics; one log line when it goes, one when it
 *   returns (OutageLog), then the backlog drains.
 * - Past the bound: the oldest segment write is dropped (inits are kept while a segment that uses them waits:
 *   they are small), counted and logged, never silently.
 * - Any other error (a bug, a refused configuration): retried up to maxAttempts, then counted as failed, logged.
 * - Order: one (stream, rendition) lane writes in enqueue order, so an init is stored before the segments that
 *   use it; distinct lanes write in parallel up to `concurrency`.
 */
import type { SegmentEntry } from '../../core/index.js';
import { coldKey, objectName } from '../../core/index.js';
import { OutageLog, type Logger } from '../../log.js';
import { ColdTierUnavailableError, isStoreUnavailable } from '../errors.js';
import type { ColdTier, SegmentArchive } from '../ports.js';

export type ArchiveRecord = Omit<SegmentEntry, 'parts'>;

/** What the archiver reports (prom-client Gauge/Counter/Histogram fit structurally). */
export interface ArchiverMetrics {
  backlogItems?: { set(v: number): void };
  backlogBytes?: { set(v: number): void };
  /** result: ok | failed | dropped; kind: init | segment. */
  writes?: { inc(labels: { result: 'ok' | 'failed' | 'dropped'; kind: 'init' | 'segment' }): void };
  /** Seconds from enqueue (the hot write) to the segment being in the cold tier and recorded. */
  writeLag?: { observe(sec: number): void };
  /**
   * Every failed write attempt (retried or not). reason: unavailable (the tier or the archive's store cannot
   * take writes now: full, read-only, unreachable) | error (anything else); code: the errno (ENOSPC, ENOTDIR, ...)
   * when the cause has one, else "other".
   */
  writeErrors?: { inc(labels: { reason: 'unavailable' | 'error'; code: string }): void };
}

/** The errno-like code of an error or of its cause ("ENOSPC"), else "other": a bounded label value. */
function errorCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && /^E[A-Z0-9]{1,15}$/.test(c)) return c;
  }
  return 'other';
}

export interface ArchiverOptions {
  tier: ColdTier;
  /** Records of archived segments (absent: bytes only, e.g. tests of the tier). */
  archive?: SegmentArchive;
  log: Logger;
  /** Bound of the queue: items and bytes (whichever is reached first). */
  maxItems: number;
  maxBytes: number;
  /** Writes in flight at once (distinct stream/rendition lanes). */
  concurrency: number;
  /** Backoff after a failure: base, doubled per consecutive failure, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts at a write failing with something other than an outage, before it is counted as failed. */
  maxAttempts: number;
  metrics?: ArchiverMetrics;
  now?: () => number;
}

interface Item {
  stream: string;
  rendition: string;
  file: string;
  kind: 'init' | 'segment';
  bytes: Uint8Array;
  contentType: string;
  segment?: ArchiveRecord;
  enqueuedAt: number;
  attempts: number;
  /** The bytes are in the cold tier; only the record is left. */
  stored: boolean;
  notBefore: number;
  inFlight: boolean;
}

export interface ArchiverStats {
  backlogItems: number;
  backlogBytes: number;
  stored: number;
  failed: number;
  dropped: number;
  /** Outages seen (the tier went down then, whether or not it came back). */
  outages: number;
}

export class ColdArchiver {
  private readonly queue: Item[] = [];
  private readonly busyLanes = new Set<string>();
  private bytes = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private consecutiveOutageFailures = 0;
  private pausedUntil = 0;
  private closed = false;
  private readonly outage: OutageLog;
  private readonly now: () => number;
  private idleWaiters: Array<() => void> = [];
  private dropLog = { pending: 0, lastAt: 0 };
  readonly stats: ArchiverStats = {
    backlogItems: 0,
    backlogBytes: 0,
    stored: 0,
    failed: 0,
    dropped: 0,
    outages: 0,
  };

  constructor(private readonly o: ArchiverOptions) {
    this.now = o.now ?? Date.now;
    this.outage = new OutageLog(o.log, `cold tier (${o.tier.kind})`, this.now);
  }

  /** An init segment the hot tier stored (idempotent in the tier: the same key holds the same bytes). */
  enqueueInit(stream: string, rendition: string, initId: number, bytes: Uint8Array): void {
    this.add({
      stream,
      rendition,
      file: objectName.init(initId),
      kind: 'init',
      bytes,
      contentType: 'video/mp4',
    });
  }

  /** A complete segment the hot tier stored; recorded in the archive once its bytes are cold. */
  enqueueSegment(
    stream: string,
    rendition: string,
    segment: ArchiveRecord | SegmentEntry,
    bytes: Uint8Array,
  ): void {
    const { parts: _parts, closing: _closing, ...record } = segment as SegmentEntry;
    this.add({
      stream,
      rendition,
      file: objectName.segment(segment.msn),
      kind: 'segment',
      bytes,
      contentType: 'video/iso.segment',
      segment: record,
    });
  }

  /** Resolves when nothing is queued or in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking writes; waits up to drainMs for the backlog, then drops what is left (counted, logged). */
  async close(drainMs = 5000): Promise<void> {
    if (this.closed) return;
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, drainMs).unref())]);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const left = this.queue.filter((i) => !i.inFlight);
    if (left.length > 0) {
      this.o.log.warn(
        { items: left.length, bytes: left.reduce((n, i) => n + i.bytes.byteLength, 0) },
        'cold archiver closed with a backlog: these writes are lost',
      );
      for (const i of left) this.remove(i, 'dropped');
    }
  }

  private add(p: Omit<Item, 'enqueuedAt' | 'attempts' | 'stored' | 'notBefore' | 'inFlight'>): void {
    if (this.closed) {
      this.stats.dropped++;
      this.o.metrics?.writes?.inc({ result: 'dropped', kind: p.kind });
      return;
    }
    const item: Item = {
      ...p,
      enqueuedAt: this.now(),
      attempts: 0,
      stored: false,
      notBefore: 0,
      inFlight: false,
    };
    this.queue.push(item);
    this.bytes += item.bytes.byteLength;
    this.enforceBound();
    this.gauges();
    this.pump();
  }

  /** Drops the oldest writes past the bound: segments first; an init only when no segment is left to drop. */
  private enforceBound(): void {
    const over = (): boolean => this.queue.length > this.o.maxItems || this.bytes > this.o.maxBytes;
    while (over()) {
      const victim =
        this.queue.find((i) => !i.inFlight && i.kind === 'segment') ?? this.queue.find((i) => !i.inFlight);
      if (!victim) return;
      this.remove(victim, 'dropped');
      this.noteDrop(victim);
    }
  }

  /** One log line per drop burst (at most every 5 s), with the running count: a loss is never silent. */
  private noteDrop(i: Item): void {
    this.dropLog.pending++;
    const t = this.now();
    if (t - this.dropLog.lastAt < 5000) return;
    this.o.log.warn(
      {
        stream: i.stream,
        rendition: i.rendition,
        file: i.file,
        droppedSinceLastLine: this.dropLog.pending,
        droppedTotal: this.stats.dropped,
        backlogItems: this.queue.length,
        backlogBytes: this.bytes,
      },
      'cold archiver backlog full: dropped the oldest writes (not archived)',
    );
    this.dropLog = { pending: 0, lastAt: t };
  }

  private remove(i: Item, result: 'ok' | 'failed' | 'dropped'): void {
    const at = this.queue.indexOf(i);
    if (at >= 0) this.queue.splice(at, 1);
    this.bytes -= i.bytes.byteLength;
    if (result === 'ok') this.stats.stored++;
    else if (result === 'failed') this.stats.failed++;
    else this.stats.dropped++;
    this.o.metrics?.writes?.inc({ result, kind: i.kind });
    this.gauges();
    if (this.queue.length === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private gauges(): void {
    this.stats.backlogItems = this.queue.length;
    this.stats.backlogBytes = this.bytes;
    this.o.metrics?.backlogItems?.set(this.queue.length);
    this.o.metrics?.backlogBytes?.set(this.bytes);
  }

  /** Starts every write that may start now; schedules the next look when something waits on a backoff. */
  private pump(): void {
    if (this.closed) return;
    const t = this.now();
    let wake = Number.POSITIVE_INFINITY;
    if (t < this.pausedUntil) wake = this.pausedUntil;
    else {
      const lanesSeen = new Set<string>();
      for (const i of this.queue) {
        if (this.inFlight >= this.o.concurrency) break;
        const lane = `${i.stream}/${i.rendition}`;
        // Only a lane's oldest item may go: order within a lane (init before its segments).
        if (lanesSeen.has(lane)) continue;
        lanesSeen.add(lane);
        if (i.inFlight || this.busyLanes.has(lane)) continue;
        if (i.notBefore > t) {
          wake = Math.min(wake, i.notBefore);
          continue;
        }
        this.start(i, lane);
      }
    }
    if (wake !== Number.POSITIVE_INFINITY && this.inFlight === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.pump();
        },
        Math.max(1, wake - t),
      );
      this.timer.unref();
    }
  }

  private start(i: Item, lane: string): void {
    i.inFlight = true;
    this.inFlight++;
    this.busyLanes.add(lane);
    void this.write(i).finally(() => {
      i.inFlight = false;
      this.inFlight--;
      this.busyLanes.delete(lane);
      this.pump();
    });
  }

  private async write(i: Item): Promise<void> {
    const ctx = { stream: i.stream, rendition: i.rendition, file: i.file };
    try {
      if (!i.stored) {
        await this.o.tier.put(coldKey.live(i.stream, i.rendition, i.file), i.bytes, i.contentType);
        i.stored = true;
      }
      if (i.segment && this.o.archive) await this.o.archive.record(i.stream, i.rendition, i.segment);
    } catch (err) {
      const outage = err instanceof ColdTierUnavailableError || isStoreUnavailable(err);
      this.o.metrics?.writeErrors?.inc({ reason: outage ? 'unavailable' : 'error', code: errorCode(err) });
      if (outage) {
        if (!this.outage.down) this.stats.outages++;
        this.outage.failed(err, { ...ctx, backlogItems: this.queue.length, backlogBytes: this.bytes });
        const backoff = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** this.consecutiveOutageFailures);
        this.consecutiveOutageFailures = Math.min(this.consecutiveOutageFailures + 1, 30);
        this.pausedUntil = this.now() + backoff;
        return;
      }
      i.attempts++;
      if (i.attempts >= this.o.maxAttempts) {
        this.o.log.error(
          { ...ctx, attempts: i.attempts, err: err instanceof Error ? err.message : String(err) },
          'cold archive write failed; giving up on this object',
        );
        this.remove(i, 'failed');
        return;
      }
      i.notBefore = this.now() + Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (i.attempts - 1));
      return;
    }
    this.consecutiveOutageFailures = 0;
    this.pausedUntil = 0;
    this.outage.ok({ backlogItems: this.queue.length - 1, backlogBytes: this.bytes - i.bytes.byteLength });
    if (i.kind === 'segment') this.o.metrics?.writeLag?.observe((this.now() - i.enqueuedAt) / 1000);
    this.remove(i, 'ok');
  }
}
