/** A byte-bounded LRU of immutable buffers (Map insertion order = recency). */
export class BufferLru {
  private readonly map = new Map<string, Buffer>();
  private used = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    const b = this.map.get(key);
    if (b === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, b);
    return b;
  }

  set(key: string, b: Buffer): void {
    if (b.length > this.maxBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.used -= old.length;
      this.map.delete(key);
    }
    this.map.set(key, b);
    this.used += b.length;
    for (const [k, v] of this.map) {
      if (this.used <= this.maxBytes) break;
      this.map.delete(k);
      this.used -= v.length;
    }
  }

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.map.size;
  }
}
