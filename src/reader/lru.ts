/**
 * A byte-bounded LRU for immutable objects (segments, parts, init segments): URLs never change content, so an
 * entry is never stale. Values carry their own size (a prepared answer: the bytes plus headers built once).
 */
export class ByteLru<V extends { readonly bytes: number } = { readonly bytes: number }> {
  private map = new Map<string, V>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Objects larger than a quarter of the budget are not kept (one would evict most of the others). */
  set(key: string, value: V): void {
    if (value.bytes > this.maxBytes / 4) return;
    const old = this.map.get(key);
    if (old) {
      this.total -= old.bytes;
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.total += value.bytes;
    for (const [k, v] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(k);
      this.total -= v.bytes;
    }
  }

  /** Bytes held. */
  get size(): number {
    return this.total;
  }

  /** Entries held. */
  get count(): number {
    return this.map.size;
  }
}
