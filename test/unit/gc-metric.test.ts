/**
 * wellspring_gc_pause_seconds counts every collection perf_hooks reports (src/gc-metric.ts), where prom-client's
 * nodejs_gc_duration_seconds takes one per delivered batch. Real collections: a synchronous burst of short-lived
 * allocations makes several scavenges before perf_hooks delivers any of them.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { waitFor } from '../support/harness.js';

let raw: PerformanceObserver | undefined;
afterEach(() => raw?.disconnect());

const minorCount = async (m: ReturnType<typeof createMetrics>): Promise<number> =>
  (await m.gcPauses.get()).values.find(
    (v) => v.metricName === 'wellspring_gc_pause_seconds_count' && v.labels.kind === 'minor',
  )?.value ?? 0;

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
    const before = await minorCount(m);
    // ~400 MB of short-lived objects in one synchronous run: tens of scavenges before the loop yields.
    let keep = 0;
    for (let i = 0; i < 4_000_000; i++) keep += { i, s: `x${i}` }.s.length;
    expect(keep).toBeGreaterThan(0);
    // Every scavenge the raw observer saw is counted (a collection just before it subscribed may be counted too).
    const counted = await waitFor(
      async () => {
        const n = (await minorCount(m)) - before;
        return seen >= 3 && n >= seen ? n : undefined;
      },
      10_000,
      'every scavenge counted',
    );
    expect(counted - seen).toBeLessThanOrEqual(2);
    // The scavenges came in fewer deliveries than collections: what a first-entry-per-batch count would miss.
    expect(batches).toBeLessThan(seen);
  });
});
