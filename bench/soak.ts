/**
 * npm run bench:soak — one live stream and 100 player-like clients (50 LL-HLS, 50 classic; tools/load/clients.ts
 * in a child process) straight at one reader for BENCH_SECONDS (default 3600). Every 10 s it samples the RSS of
 * every process (ingest, its ffmpeg, manifest worker, reader, redis-server), Redis used_memory and key count, and
 * from the reader's /metrics its heap, active handles and metric series. Reports each series' least-squares slope
 * (per hour) over the whole run and over its second half (after caches have filled), and whether it is beyond
 * noise (|slope| > 3 standard errors). At the end the stream stops and the clients leave: what the reader still
 * holds then (handles, held requests' listeners, series naming the stream) is reported too. Prints JSON.
 *
 * Env: BENCH_SECONDS (default 3600), BENCH_CLIENTS (default 100), BENCH_SAMPLE_SECONDS (default 10);
 * READER_MEDIA_CACHE_MB (read by the reader itself) makes the media cache small enough to fill early, so growth
 * beyond it can be told apart from the cache filling. BENCH_RECYCLE_SEC sets the ingest's transcoderRecycleSec
 * (default: the config's, a day): the transcoder's RSS is then the sum over every ffmpeg under the ingest at each
 * sample, and each transcoder's RSS at its last sample (within a sample period of its replacement) is reported,
 * so a bounded transcoder shows as equal ends of its lives.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { descendants, redisInfo, rssBytes, slope } from '../tools/load/observe.js';
import { mergeCounts } from '../tools/load/clients.js';
import { CLIENT_HTTP, LOAD_LADDER, startClients, startStack } from '../tools/load/stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3600);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 100);
const EVERY = Number(process.env.BENCH_SAMPLE_SECONDS ?? 10);
const RECYCLE = process.env.BENCH_RECYCLE_SEC ? Number(process.env.BENCH_RECYCLE_SEC) : undefined;
const STREAM = 'soak';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const stack = await startStack({
  stream: STREAM,
  segmentSec: 2,
  partSec: 0.25,
  cdn: false,
  transcoderRecycleSec: RECYCLE,
});
/** The ingest's ffmpeg processes now (two during a recycle's handover). */
function transcoders(): number[] {
  return descendants(stack.ingest.pid!).filter((p) => {
    try {
      const argv0 = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] ?? '';
      return /(^|\/)ffmpeg$/.test(argv0);
    } catch {
      return false;
    }
  });
}
/** Each transcoder seen: first and last sample time (h) and its RSS at its last sample (up to one sample period
 * before it was replaced). */
const lives = new Map<number, { from: number; to: number; lastRss: number }>();

async function readerMetrics(): Promise<{ text: string; get(name: string): number }> {
  const text = await (await fetch(`http://127.0.0.1:${stack.readerPort}/metrics`)).text().catch(() => '');
  return {
    text,
    get: (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN),
  };
}

const series: Record<string, number[]> = {};
const times: number[] = [];
const t0 = performance.now();
async function sample(): Promise<void> {
  const info = await redisInfo(stack.redis.port);
  const m = await readerMetrics();
  const keys = Number(/keys=(\d+)/.exec(info.db0 ?? '')?.[1] ?? 0);
  const t = (performance.now() - t0) / 3_600_000;
  let ffmpegRss = 0;
  for (const pid of transcoders()) {
    const rss = rssBytes(pid);
    if (!Number.isFinite(rss)) continue;
    ffmpegRss += rss;
    const life = lives.get(pid) ?? { from: t, to: t, lastRss: rss };
    lives.set(pid, { ...life, to: t, lastRss: rss });
  }
  const values: Record<string, number> = {
    ingestRss: rssBytes(stack.ingest.pid!),
    ffmpegRss: ffmpegRss || NaN,
    manifestRss: rssBytes(stack.manifest.pid!),
    readerRss: rssBytes(stack.reader.pid!),
    redisRss: Number(info.used_memory_rss),
    redisUsedMemory: Number(info.used_memory),
    redisKeys: keys,
    readerHeapUsed: m.get('nodejs_heap_size_used_bytes'),
    // Buffers (the media cache's bytes among them) live outside the JS heap.
    readerExternalMemory: m.get('nodejs_external_memory_bytes'),
    readerActiveHandles: m.get('nodejs_active_handles_total'),
    readerMetricSeries: m.text.split('\n').filter((l) => l && !l.startsWith('#')).length,
  };
  times.push(t);
  for (const [k, v] of Object.entries(values)) (series[k] ??= []).push(v);
}

await sample();
const clients = await startClients(stack, STREAM, {
  base: stack.readerBase,
  rendition: LOAD_LADDER[0]!.name,
  ll: Math.ceil(CLIENTS / 2),
  classic: Math.floor(CLIENTS / 2),
  procs: 1,
  rampMs: 5000,
});
const end = performance.now() + SECONDS * 1000;
while (performance.now() < end) {
  await sleep(EVERY * 1000);
  await sample();
}
const results = await clients.stop();
// The stream ends and everyone leaves: what does the reader still hold a while later?
stack.source.kill('SIGINT');
await sleep(15_000);
const after = await readerMetrics();
const seriesNamingStream = after.text
  .split('\n')
  .filter((l) => !l.startsWith('#') && l.includes(STREAM)).length;

const statuses = mergeCounts(results.map((r) => r.statuses));

const report: Record<string, unknown> = {};
const half = Math.floor(times.length / 2);
for (const [k, ys] of Object.entries(series)) {
  const ok = ys.map((y, i) => [times[i]!, y] as const).filter(([, y]) => Number.isFinite(y));
  const all = slope(
    ok.map((p) => p[0]),
    ok.map((p) => p[1]),
  );
  const late = ok.filter(([t]) => t >= times[half]!);
  const second = slope(
    late.map((p) => p[0]),
    late.map((p) => p[1]),
  );
  const unit = /Rss|Memory|Heap|External/.test(k) ? 'bytes' : 'count';
  report[k] = {
    unit,
    first: ys[0],
    last: ys[ys.length - 1],
    max: Math.max(...ok.map((p) => p[1])),
    slopePerHour: Math.round(all.slope),
    stderrPerHour: Math.round(all.stderr),
    beyondNoise: all.beyondNoise,
    secondHalf: {
      slopePerHour: Math.round(second.slope),
      stderrPerHour: Math.round(second.stderr),
      beyondNoise: second.beyondNoise,
    },
  };
}
await stack.stop();
console.log(
  JSON.stringify(
    {
      bench: 'soak',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: {
        ...stack.configDescription,
        seconds: SECONDS,
        clients: `${Math.ceil(CLIENTS / 2)} LL-HLS (blocking reloads, preload hints, parts) + ${Math.floor(CLIENTS / 2)} classic HLS, one child process, straight at the reader`,
        sampleEverySeconds: EVERY,
        clientHttp: CLIENT_HTTP,
        readerMediaCacheMb: process.env.READER_MEDIA_CACHE_MB ?? 'default (128 MiB)',
        transcoderRecycleSec: RECYCLE ?? 'default (86400)',
        samples: times.length,
        slope:
          'least squares over all samples and over the second half; beyondNoise = |slope| > 3 x its standard error',
      },
      requests: results.reduce((n, r) => n + r.requests, 0),
      statuses,
      failures: mergeCounts(results.map((r) => r.failures)),
      failureExamples: results.flatMap((r) => r.failureExamples),
      transcoders: {
        processes: lives.size,
        lives: [...lives.values()].map((l) => ({
          fromH: Math.round(l.from * 1000) / 1000,
          toH: Math.round(l.to * 1000) / 1000,
          lastRssMb: Math.round(l.lastRss / 1e5) / 10,
        })),
      },
      series: report,
      afterStreamEndedAndClientsLeft: {
        waitedSeconds: 15,
        readerActiveHandles: after.get('nodejs_active_handles_total'),
        readerActiveHandlesAtStart: series.readerActiveHandles?.[0],
        readerMetricSeriesNamingTheStream: seriesNamingStream,
      },
    },
    null,
    2,
  ),
);
process.exit(0);
