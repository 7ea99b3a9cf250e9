/** Percentiles over a list of samples (ms), for the benchmarks' JSON reports. */
export function summarize(samplesMs: number[]): {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
} {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    n: s.length,
    p50: round(q(0.5)),
    p95: round(q(0.95)),
    p99: round(q(0.99)),
    max: round(s[s.length - 1] ?? NaN),
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}

/** Runs fn repeatedly for about `ms` milliseconds after a warm-up; returns per-call times in ms. */
export function timeLoop(fn: () => void, ms = 2000, warmup = 200): number[] {
  const end0 = performance.now() + warmup;
  while (performance.now() < end0) fn();
  const samples: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return samples;
}
