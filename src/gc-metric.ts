/**
 * Garbage-collection pauses, every one (`wellspring_gc_pause_seconds{kind}`). prom-client's
 * `nodejs_gc_duration_seconds` observes only the first entry of each batch Node's perf_hooks delivers, and Node
 * batches the entries that arrive before its next delivery, so under load it misses collections (measured in
 * bench:load: 2,651 scavenges counted where V8's --trace-gc logged 3,018 with V8's defaults, 6,298 against 13,897
 * with --max-semi-space-size=4; README "Reliability"). So that metric, under its standard name (the one Node.js
 * dashboards read), is replaced in each registry by one fed from the same observer, with prom-client's help,
 * labels and buckets.
 *
 * One observer per process feeds every registry's histograms: two per createMetrics(), so two per process in
 * production (prom-client's own GC collector keeps each registry alive for the process's life anyway).
 */
import { type PerformanceEntry, PerformanceObserver, constants } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** A perf_hooks 'gc' entry: Node puts the collection's kind in `detail`. */
type GcEntry = PerformanceEntry & { detail?: { kind?: number } };

/** A perf_hooks 'gc' entry's kind: major, minor, incremental, weakcb, or other. */
export function gcKind(e: PerformanceEntry): string {
  return KINDS[(e as GcEntry).detail?.kind ?? -1] ?? 'other';
}

const sinks = new Set<Histogram<'kind'>>();
let observer: PerformanceObserver | undefined;

function observe(): void {
  observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = gcKind(e);
      for (const h of sinks) h.observe({ kind }, e.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

function fed(h: Histogram<'kind'>): Histogram<'kind'> {
  sinks.add(h);
  if (!observer) observe();
  return h;
}

/** Registers `wellspring_gc_pause_seconds` in `registry`, fed from now on. */
export function gcPauseHistogram(registry: Registry): Histogram<'kind'> {
  return fed(
    new Histogram({
      name: 'wellspring_gc_pause_seconds',
      help: 'Garbage-collection pauses by kind (major, minor, incremental, weakcb), every one',
      labelNames: ['kind'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
  );
}

export const NODE_GC_METRIC = 'nodejs_gc_duration_seconds';

/**
 * Swaps prom-client's `nodejs_gc_duration_seconds` in `registry` (registered by collectDefaultMetrics) for one
 * that counts every collection. prom-client's observer keeps feeding its own histogram, no longer exported.
 */
export function replaceNodeGcHistogram(registry: Registry): Histogram<'kind'> {
  // Under another name (a prefix) the swap would leave prom-client's in place and export two: refuse.
  if (!registry.getSingleMetric(NODE_GC_METRIC))
    throw new Error(`${NODE_GC_METRIC} is not registered: collectDefaultMetrics first, without a prefix`);
  registry.removeSingleMetric(NODE_GC_METRIC);
  return fed(
    new Histogram({
      name: NODE_GC_METRIC,
      help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
      labelNames: ['kind'],
      buckets: [0.001, 0.01, 0.1, 1, 2, 5],
      registers: [registry],
    }),
  );
}
