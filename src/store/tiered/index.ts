/**
 * Issue #11: the tiered read, a MediaStore wrapper. getObject reads the hot tier first and, for an init or a
 * segment the hot tier no longer holds, the cold tier (key from coldKey.live): same names, so the reader serves
 * the same URLs, ranges and ETags (the reader derives the ETag from the name and length: src/core/names/cold.ts).
 * - Cold reads are kept in a byte-bounded in-process LRU (immutable objects: never stale).
 * - An object read from cold more than `promoteAfter` times within `promoteWindowMs` is promoted into the hot
 *   tier with a TTL (MediaStore.putObject, NX), so every reader process shares it.
 * - A cold miss is remembered for `missTtlMs` (an object the hot tier does not have yet, e.g. a segment still
 *   being filled, does not cost a cold round trip per request; once written it is hot anyway).
 * - The cold tier unreachable: StoreUnavailableError (the reader answers 503, never a cacheable 404). The hot
 *   tier unreachable: the cold copy is served when there is one.
 * Parts are never cold (the archive keeps complete segments): a hot miss for a part is a miss.
 * Every other method is the hot tier's.
 */
import { coldKey, parseObjectName } from '../../core/index.js';
import type { Logger } from '../../log.js';
import { ColdTierUnavailableError, StoreUnavailableError, isStoreUnavailable } from '../errors.js';
import { ForwardingMediaStore } from '../forwarding-media.js';
import type { ColdTier, MediaStore } from '../ports.js';
import { BufferLru } from './lru.js';

export interface TieredMetrics {
  /** result: hit (cold had it) | miss (neither tier had it) | error (cold unreachable). */
  coldReads?: { inc(labels: { result: 'hit' | 'miss' | 'error' }): void };
  cacheHits?: { inc(): void };
  promotions?: { inc(): void };
  cacheBytes?: { set(v: number): void };
}

export interface TieredOptions {
  hot: MediaStore;
  cold: ColdTier;
  log: Logger;
  /** In-process cache of cold reads, bytes. */
  cacheBytes: number;
  /** Promote after more than this many cold reads of one object within promoteWindowMs (0: never promote). */
  promoteAfter: number;
  promoteWindowMs: number;
  /** TTL of a promoted object in the hot tier, s. */
  promoteTtlSec: number;
  /** How long a cold miss is remembered, ms. */
  missTtlMs: number;
  metrics?: TieredMetrics;
  now?: () => number;
}

/** Read counts per object in the current window, bounded (the oldest windows go first). */
const MAX_TRACKED = 10_000;

export class TieredMediaStore extends ForwardingMediaStore {
  private readonly lru: BufferLru;
  private readonly reads = new Map<string, { count: number; since: number; promoted: boolean }>();
  private readonly misses = new Map<string, number>();
  private readonly now: () => number;
  readonly stats = { coldHits: 0, coldMisses: 0, cacheHits: 0, promotions: 0 };

  constructor(private readonly o: TieredOptions) {
    super(o.hot);
    this.now = o.now ?? Date.now;
    this.lru = new BufferLru(o.cacheBytes);
  }

  override async getObject(stream: string, rendition: string, file: string): Promise<Buffer | null> {
    let hotErr: unknown;
    try {
      const b = await this.hot.getObject(stream, rendition, file);
      if (b) return b;
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      hotErr = err;
    }
    const ref = parseObjectName(file);
    if (!ref || ref.kind === 'part') {
      if (hotErr) throw hotErr;
      return null;
    }
    // The segment being filled (or a later one) was never archived: a hot miss the reader waits on. Asking the cold
    // tier would put an S3 round trip in front of every in-progress segment at the live edge, and a cold outage
    // would answer 503 for media the hot tier is about to hold.
    if (!hotErr && ref.kind === 'segment' && (await this.atLiveEdge(stream, rendition, ref.msn))) return null;
    const key = coldKey.live(stream, rendition, file);
    const cached = this.lru.get(key);
    if (cached) {
      this.stats.cacheHits++;
      this.o.metrics?.cacheHits?.inc();
      this.countRead(stream, rendition, file, key, cached);
      return cached;
    }
    const t = this.now();
    const missUntil = this.misses.get(key);
    if (missUntil !== undefined && missUntil > t) {
      if (hotErr) throw hotErr;
      return null;
    }
    let got;
    try {
      got = await this.o.cold.get(key);
    } catch (err) {
      this.o.metrics?.coldReads?.inc({ result: 'error' });
      if (err instanceof ColdTierUnavailableError) {
        throw new StoreUnavailableError(`cold tier (${this.o.cold.kind}) unavailable`, { cause: err });
      }
      throw err;
    }
    if (!got) {
      this.stats.coldMisses++;
      this.o.metrics?.coldReads?.inc({ result: 'miss' });
      if (this.misses.size >= MAX_TRACKED) this.misses.clear();
      this.misses.set(key, t + this.o.missTtlMs);
      if (hotErr) throw hotErr;
      return null;
    }
    this.stats.coldHits++;
    this.o.metrics?.coldReads?.inc({ result: 'hit' });
    this.lru.set(key, got.bytes);
    this.o.metrics?.cacheBytes?.set(this.lru.bytes);
    this.countRead(stream, rendition, file, key, got.bytes);
    return got.bytes;
  }

  /** At or past the rendition's open (being filled) segment. A hot tier that cannot say is not the live edge. */
  private async atLiveEdge(stream: string, rendition: string, msn: number): Promise<boolean> {
    const open = await this.hot.getOpenEntry(stream, rendition).catch(() => undefined);
    return open !== undefined && msn >= open.msn;
  }

  /** Counts a read served from the cold copy; past the threshold, promotes it into the hot tier (once per window). */
  private countRead(stream: string, rendition: string, file: string, key: string, bytes: Buffer): void {
    if (this.o.promoteAfter <= 0 || !this.hot.putObject) return;
    const t = this.now();
    let r = this.reads.get(key);
    if (!r || t - r.since > this.o.promoteWindowMs) {
      if (!r && this.reads.size >= MAX_TRACKED) this.reads.delete(this.reads.keys().next().value!);
      r = { count: 0, since: t, promoted: false };
      this.reads.delete(key);
      this.reads.set(key, r);
    }
    r.count++;
    if (r.count <= this.o.promoteAfter || r.promoted) return;
    r.promoted = true;
    this.hot.putObject(stream, rendition, file, bytes, this.o.promoteTtlSec).then(
      () => {
        this.stats.promotions++;
        this.o.metrics?.promotions?.inc();
      },
      (err: unknown) => {
        r.promoted = false;
        this.o.log.warn(
          { stream, rendition, file, err: err instanceof Error ? err.message : String(err) },
          'promotion of a cold object into the hot tier failed',
        );
      },
    );
  }
}
