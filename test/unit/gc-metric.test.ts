/**
 * wellspring_gc_pause_seconds counts every collection perf_hooks reports (src/gc-metric.ts), where prom-client's
 * nodejs_gc_duration_seconds takes one per delivered batch; the registry exports that standard name fed the same way.
 * Real collections: a synchronous burst of short-lived allocations makes several scavenges before perf_hooks
 * delivers any of them.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { waitFor } from '../support/harness.js';

let raw: PerformanceObserver | undefined;
afterEach(() => raw?.disconnect());

/** The minor-GC count of `name` as the registry exports it (what a scrape reads). */
const minorCount = async (m: ReturnType<typeof createMetrics>, name: string): Promise<number> => {
  const line = (await m.registry.metrics())
    .split('\n')
    .find((l) => l.startsWith(`${name}_count{kind="minor"}`));
  return line ? Number(line.split(' ').pop()) : 0;
};
const NAMES = ['wellspring_gc_pause_seconds', 'nodejs_gc_duration_seconds'];

describe('wellspring_gc_pause_seconds', () => {
  it('counts every scavenge, also those delivered in one batch', async () => {
    const m = createMetrics();
    let seen = 0;
    let batches = 0;
    raw = new PerformanceObserver((list) => {
      batches++;
      for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === 1) seen++;
    });
    raw.observe({ entryTypes: ['gc'] });
    const before = await Promise.all(NAMES.map((n) => minorCount(m, n)));
    // ~400 MB of short-lived objects in one synchronous run: tens of scavenges before the loop yields.
    let keep = 0;
    for (let i = 0; i < 4_000_000; i++) keep += { i, s: `x${i}` }.s.length;
    expect(keep).toBeGreaterThan(0);
    // Every scavenge the raw observer saw is counted by both names (a collection just before it subscribed may be
    // counted too).
    const counted = await waitFor(
      async () => {
        const n = await Promise.all(
          NAMES.map(async (name, i) => (await minorCount(m, name)) - (before[i] ?? 0)),
        );
        return seen >= 3 && n.every((c) => c >= seen) ? n : undefined;
      },
      10_000,
      'every scavenge counted',
    );
    for (const c of counted) expect(c - seen).toBeLessThanOrEqual(2);
    // The standard name keeps prom-client's buckets.
    const les = (await m.registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('nodejs_gc_duration_seconds_bucket{') && l.includes('kind="minor"'))
      .map((l) => /le="([^"]+)"/.exec(l)?.[1]);
    expect(les).toEqual(['0.001', '0.01', '0.1', '1', '2', '5', '+Inf']);
    // The scavenges came in fewer deliveries than collections: what a first-entry-per-batch count would miss.
    expect(batches).toBeLessThan(seen);
  });

  it("exports nodejs_gc_duration_seconds once, with prom-client's help and buckets", async () => {
    const text = await createMetrics().registry.metrics();
    expect(text.match(/^# TYPE nodejs_gc_duration_seconds histogram$/gm)).toHaveLength(1);
    expect(text).toContain('# HELP nodejs_gc_duration_seconds Garbage collection duration by kind');
  });
});
