/**
 * Refused publishes per remote address, as a token bucket: each refusal takes a token, tokens come back at
 * `perMinute`, at most `burst`. An address with no token left is refused before its credential is even looked
 * at, so keys cannot be guessed at line rate. The map is bounded (the oldest address is forgotten first).
 */
export interface FailureLimiterOptions {
  burst: number;
  perMinute: number;
  maxAddresses: number;
  now?: () => number;
}

export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  private readonly now: () => number;

  constructor(private readonly o: FailureLimiterOptions) {
    this.now = o.now ?? Date.now;
  }

  private level(addr: string): { tokens: number; atMs: number } | undefined {
    const b = this.buckets.get(addr);
    if (!b) return undefined;
    const t = this.now();
    b.tokens = Math.min(this.o.burst, b.tokens + ((t - b.atMs) / 60_000) * this.o.perMinute);
    b.atMs = t;
    if (b.tokens >= this.o.burst) {
      this.buckets.delete(addr);
      return undefined;
    }
    return b;
  }

  /** False when this address has used up its refusals: refuse without checking. */
  allows(addr: string | undefined): boolean {
    if (addr === undefined) return true;
    const b = this.level(addr);
    return !b || b.tokens >= 1;
  }

  /** A refusal from this address. */
  failed(addr: string | undefined): void {
    if (addr === undefined) return;
    const b = this.level(addr) ?? { tokens: this.o.burst, atMs: this.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(addr); // re-inserted as the newest
    this.buckets.set(addr, b);
    while (this.buckets.size > this.o.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
  }

  get size(): number {
    return this.buckets.size;
  }
}
