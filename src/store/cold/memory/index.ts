/**
 * The in-memory cold tier: the ColdTier port over a Map, for in-process tests of the archiver, the tiered
 * read and the sweeper. It can be made unavailable (every call throws ColdTierUnavailableError, as a
 * read-only disk or a stopped S3 server does) and counts its calls.
 */
import { coldEtag } from '../../../core/index.js';
import { ColdTierUnavailableError } from '../../errors.js';
import type { ColdObjectMeta, ColdTier } from '../../ports.js';

interface Stored {
  bytes: Buffer;
  meta: ColdObjectMeta;
}

export class MemoryColdTier implements ColdTier {
  readonly kind = 'memory';
  private readonly objects = new Map<string, Stored>();
  /** Set to make every call fail with ColdTierUnavailableError. */
  unavailable = false;
  /** Calls per operation (tests). */
  readonly calls = { put: 0, get: 0, head: 0, list: 0, deleteMany: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  private check(): void {
    if (this.unavailable) throw new ColdTierUnavailableError('memory cold tier made unavailable');
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<ColdObjectMeta> {
    this.calls.put++;
    this.check();
    const copy = Buffer.from(bytes);
    const meta: ColdObjectMeta = {
      contentType,
      etag: coldEtag(key, copy.length),
      byteLength: copy.length,
      lastModifiedMs: this.now(),
    };
    this.objects.set(key, { bytes: copy, meta });
    return { ...meta };
  }

  async get(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ bytes: Buffer; meta: ColdObjectMeta } | null> {
    this.calls.get++;
    this.check();
    const o = this.objects.get(key);
    if (!o) return null;
    const bytes = range
      ? o.bytes.subarray(range.start, Math.min(range.end, o.bytes.length - 1) + 1)
      : o.bytes;
    return { bytes: Buffer.from(bytes), meta: { ...o.meta } };
  }

  async head(key: string): Promise<ColdObjectMeta | null> {
    this.calls.head++;
    this.check();
    const o = this.objects.get(key);
    return o ? { ...o.meta } : null;
  }

  async list(prefix: string, max: number, after?: string): Promise<{ keys: string[]; more: boolean }> {
    this.calls.list++;
    this.check();
    const all = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
      .sort();
    return { keys: all.slice(0, max), more: all.length > max };
  }

  async deleteMany(keys: string[]): Promise<number> {
    this.calls.deleteMany++;
    this.check();
    let n = 0;
    for (const k of keys) if (this.objects.delete(k)) n++;
    return n;
  }

  /** Objects held (tests). */
  get size(): number {
    return this.objects.size;
  }

  async close(): Promise<void> {}
}
