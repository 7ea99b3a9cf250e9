/**
 * Prometheus histograms read from a process's /metrics text (the reader's release timing, issues #13/#15): the
 * change between two scrapes and its quantiles, estimated as Prometheus' histogram_quantile does.
 */

/** A /metrics text (empty if the process does not answer). */
export function scrape(url: string): Promise<string> {
  return fetch(url)
    .then((r) => r.text())
    .catch(() => '');
}

export interface Hist {
  /** Cumulative counts by upper bound (s, as written: "0.02", "+Inf"). */
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

/** One unlabelled histogram out of a scrape. */
export function histogram(text: string, name: string): Hist {
  const buckets = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`, 'gm')))
    buckets.set(m[1]!, Number(m[2]));
  const one = (k: string): number => Number(new RegExp(`^${name}_${k} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  return { buckets, sum: one('sum'), count: one('count') };
}

/** What a histogram gained between two scrapes. */
export function histDelta(a: string, b: string, name: string): Hist {
  const x = histogram(a, name);
  const y = histogram(b, name);
  const buckets = new Map<string, number>();
  for (const [le, n] of y.buckets) buckets.set(le, n - (x.buckets.get(le) ?? 0));
  return { buckets, sum: y.sum - x.sum, count: y.count - x.count };
}

/**
 * What a histogram gained between two scrapes of each of several processes (`a[i]`, `b[i]`: process i), added up
 * bucket by bucket (the processes share the buckets: the same code registers them). A process with a failed
 * scrape (empty text) on either side is left out and counted in `skipped`, never read as a zero.
 */
export function histDeltaOfAll(
  a: readonly string[],
  b: readonly string[],
  name: string,
): Hist & { skipped: number } {
  const buckets = new Map<string, number>();
  let sum = 0;
  let count = 0;
  let skipped = 0;
  b.forEach((after, i) => {
    const before = a[i] ?? '';
    if (!before || !after) {
      skipped++;
      return;
    }
    const d = histDelta(before, after, name);
    for (const [le, n] of d.buckets) buckets.set(le, (buckets.get(le) ?? 0) + n);
    sum += d.sum;
    count += d.count;
  });
  return { buckets, sum, count, skipped };
}

/**
 * p50/p99 estimated as Prometheus' histogram_quantile does (linear within the bucket that holds the rank), in ms,
 * with that bucket's bounds; a rank in the +Inf bucket is reported as above the highest bound.
 */
export function quantiles(h: Hist): Record<string, unknown> {
  const les = [...h.buckets.keys()];
  const cum = les.map((le) => h.buckets.get(le) ?? 0);
  const total = cum[cum.length - 1] ?? 0;
  const ms = (s: number): number => Math.round(s * 1e6) / 1e3;
  const at = (q: number): { ms: number | string; bucketMs: string } | 'n/a' => {
    if (total === 0) return 'n/a';
    const rank = q * total;
    const i = cum.findIndex((c) => c >= rank);
    const hi = les[i] === '+Inf' ? Infinity : Number(les[i]);
    const lo = i > 0 ? Number(les[i - 1]) : 0;
    if (hi === Infinity) return { ms: `> ${ms(lo)}`, bucketMs: `> ${ms(lo)}` };
    const below = i > 0 ? cum[i - 1]! : 0;
    const inBucket = cum[i]! - below;
    const est = lo + (hi - lo) * (inBucket > 0 ? (rank - below) / inBucket : 1);
    return { ms: ms(est), bucketMs: `${ms(lo)}-${ms(hi)}` };
  };
  return {
    observations: h.count,
    meanMs: h.count > 0 ? ms(h.sum / h.count) : 'n/a',
    p50: at(0.5),
    p99: at(0.99),
    // "upper bound in ms:cumulative count", in bucket order (an object would list integer-like keys first).
    cumulativeMs: les.map((le, i) => `${le === '+Inf' ? '+Inf' : ms(Number(le))}:${cum[i]}`).join(' '),
  };
}

/**
 * A gauge's value out of a scrape (NaN when absent): the unlabelled series, or with `label` (e.g. 'space="new"')
 * the first series whose labels hold it.
 */
export function gauge(text: string, name: string, label?: string): number {
  const series = label === undefined ? ' ' : `\\{[^}]*${label}[^}]*\\} `;
  return Number(new RegExp(`^${name}${series}(\\S+)`, 'm').exec(text)?.[1] ?? NaN);
}

/**
 * The process's event-loop delay since the previous scrape, ms (prom-client's nodejs_eventloop_lag_* gauges are
 * computed from a histogram it resets at every scrape): how long an event could wait before the loop took it.
 */
export function loopDelaySinceLastScrape(text: string): { p50: number; p99: number; max: number } {
  const ms = (name: string): number => Math.round(gauge(text, name) * 1e6) / 1e3;
  return {
    p50: ms('nodejs_eventloop_lag_p50_seconds'),
    p99: ms('nodejs_eventloop_lag_p99_seconds'),
    max: ms('nodejs_eventloop_lag_max_seconds'),
  };
}

/** The reader's GC histogram: every pause (src/gc-metric.ts). */
export const GC_METRIC = 'wellspring_gc_pause_seconds';

/**
 * Seconds spent in garbage collection so far, all kinds (`metric`: Wellspring's wellspring_gc_pause_seconds, every
 * collection; nodejs_gc_duration_seconds counts every one too since each process replaced prom-client's, which
 * undercounts, src/gc-metric.ts): 0 before the first collection (the histogram has no series yet), NaN when there
 * is no scrape.
 */
export function gcSeconds(text: string, metric = GC_METRIC): number {
  if (!text) return NaN;
  return Object.values(gcByKind(text, metric)).reduce((a, b) => a + b.seconds, 0);
}

/** Garbage collections so far by kind (minor, major, incremental, weakcb): how many, and seconds spent. */
export function gcByKind(
  text: string,
  metric = GC_METRIC,
): Record<string, { count: number; seconds: number }> {
  const out: Record<string, { count: number; seconds: number }> = {};
  const line = new RegExp(`^${metric}_(sum|count)\\{[^}]*kind="([^"]+)"[^}]*\\} (\\S+)`, 'gm');
  for (const m of text.matchAll(line)) {
    const k = (out[m[2]!] ??= { count: 0, seconds: 0 });
    if (m[1] === 'sum') k.seconds += Number(m[3]);
    else k.count += Number(m[3]);
  }
  return out;
}
