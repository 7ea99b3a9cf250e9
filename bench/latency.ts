/**
 * npm run bench:latency — the whole chain: stamped source -> RTMP -> ingest -> Redis -> manifest worker -> reader
 * -> Varnish CDN -> player, for LL-HLS (hls.js), LL-DASH (dash.js) and classic HLS (hls.js, 2 s segments), plus
 * ffmpeg's own 2 s HLS played by the same hls.js as the reference. Each mode runs BENCH_SECONDS (default 300).
 * Writes out/latency/report.json and report.svg and prints the JSON.
 * Stages the origin can see: chunk -> Redis (publish), part -> playlist (manifest job), origin -> CDN (probe at the
 * origin vs through the CDN), player hold-back (player glass-to-glass minus CDN availability). What is left of the
 * availability latency at the origin is the encoder and transcoder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVarnishCdn } from '../tools/process/varnish.js';
import { track } from '../src/adapters/process/children.js';
import { freePort, startRedisServer } from '../tools/process/redis-server.js';
import { DEFAULT_LADDER, parseConfig } from '../src/config.js';
import { meter } from '../tools/latency/browser-meter.js';
import { latencySvg, percentile, probe, summarizeProbe } from '../tools/latency/probe.js';
import { StampedSource } from '../tools/source/stamped-source.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { startNode } from '../workers/compose.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 300);
const WARMUP = 10;
const out = join(process.cwd(), 'out', 'latency');
mkdirSync(out, { recursive: true });

const redis = await startRedisServer();
const metrics = createMetrics();
/**
 * BENCH_PRESET overrides the x264 preset of every rung of the default ladder (e.g. superfast): on a machine where
 * the source, the ladder, Chromium and the probes do not fit at once, it shows what the chain does with headroom.
 */
const PRESET = process.env.BENCH_PRESET as 'superfast' | 'veryfast' | 'ultrafast' | undefined;
/** BENCH_PART_SEC: part duration (default 0.2). BENCH_MODES: comma list of modes (default all, with the reference). */
const PART_SEC = Number(process.env.BENCH_PART_SEC ?? 0.2);
/** BENCH_TARGET_MS: the LL-DASH ServiceDescription target latency (default: the config default). */
const TARGET_MS = process.env.BENCH_TARGET_MS ? Number(process.env.BENCH_TARGET_MS) : undefined;
const ONLY = process.env.BENCH_MODES?.split(',').map((x) => x.trim());
const wanted = (name: string): boolean => !ONLY || ONLY.includes(name);
const config = parseConfig({
  redisUrl: redis.url,
  rtmp: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  logLevel: 'error',
  ...(TARGET_MS ? { targetLatencyMs: TARGET_MS } : {}),
  defaults: {
    partSec: PART_SEC,
    ...(PRESET ? { ladder: DEFAULT_LADDER.map((r) => ({ ...r, preset: PRESET })) } : {}),
  },
});
const node = await startNode(config, ['ingest', 'manifest', 'reader'], createLogger('error'), metrics);
const cdn = await startVarnishCdn(
  [node.httpPort!],
  fileURLToPath(new URL('../deploy/varnish/wellspring.vcl.template', import.meta.url)),
);
// The source runs in its own process: frame pacing must not share an event loop with the origin it measures.
const source = track(
  spawn(
    process.execPath,
    ['--import', 'tsx', 'workers/stamped-source.ts', `rtmp://127.0.0.1:${node.rtmpPort}/live/lat`],
    { stdio: 'ignore', detached: true },
  ),
);
const originBase = `http://127.0.0.1:${node.httpPort}/live/lat`;
const cdnBase = `${cdn.url}/live/lat`;
for (
  let i = 0;
  i < 100 && (await fetch(`${originBase}/master.m3u8`).catch(() => undefined))?.status !== 200;
  i++
)
  await new Promise((r) => setTimeout(r, 300));
await new Promise((r) => setTimeout(r, 5000));

type Mode = { name: string; player: 'hls' | 'dash'; lowLatency: boolean; url: string; originUrl: string };
const modes: Mode[] = [
  {
    name: 'll-hls',
    player: 'hls',
    lowLatency: true,
    url: `${cdnBase}/master.m3u8`,
    originUrl: `${originBase}/master.m3u8`,
  },
  {
    name: 'll-dash',
    player: 'dash',
    lowLatency: true,
    url: `${cdnBase}/manifest-ll.mpd`,
    originUrl: `${originBase}/manifest-ll.mpd`,
  },
  {
    name: 'hls',
    player: 'hls',
    lowLatency: false,
    url: `${cdnBase}/master.m3u8`,
    originUrl: `${originBase}/master.m3u8`,
  },
];

const stats = (l: number[]) => ({
  n: l.length,
  p50: percentile(l, 0.5),
  p95: percentile(l, 0.95),
  max: l.length ? Math.max(...l) : NaN,
});
const report: Record<string, unknown> = {};
const series: Array<{ label: string; points: Array<{ tSec: number; ms: number }> }> = [];
for (const m of modes.filter((x) => wanted(x.name))) {
  // CPU of this process (ingest, manifest worker, reader) over the mode: what the part duration costs the origin.
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const [atCdn, atOrigin, player] = await Promise.all([
    probe(m.url, SECONDS, WARMUP),
    probe(m.originUrl, SECONDS, WARMUP),
    meter({
      url: m.url,
      player: m.player,
      lowLatency: m.lowLatency,
      seconds: SECONDS,
      warmupSec: WARMUP,
      timeUrl: `${cdn.url}/time`,
    }),
  ]);
  const cpu = process.cpuUsage(cpu0);
  const originCores =
    Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 1000) / 1000;
  const speed = (await metrics.ffmpegSpeed.get()).values[0]?.value;
  const dropped = (await metrics.ffmpegDropped.get()).values[0]?.value;
  const cdnS = summarizeProbe(atCdn);
  const originS = summarizeProbe(atOrigin);
  const g2g = player.samples.map((s) => s.latencyMs);
  const t0 = player.samples[0]?.atMs ?? 0;
  series.push({
    label: `${m.name} player`,
    points: player.samples.map((s) => ({ tSec: (s.atMs - t0) / 1000, ms: s.latencyMs })),
  });
  report[m.name] = {
    playerGlassToGlassMs: stats(g2g),
    // The transcoder's speed at the end of the mode: below 1.0 the whole chain falls behind real time.
    transcoderSpeed: speed,
    transcoderDroppedFrames: dropped,
    originCpuCores: originCores,
    stalls: player.stalls,
    stalledMs: player.stalledMs,
    unreadableFrames: player.unreadable,
    playerErrors: player.errors.slice(0, 5),
    availabilityAtCdnMs: cdnS.latencyMs,
    availabilityAtOriginMs: originS.latencyMs,
    stagesMs: {
      originToCdn: Math.round(cdnS.latencyMs.p50 - originS.latencyMs.p50),
      playerHoldBack: Math.round(percentile(g2g, 0.5) - cdnS.latencyMs.p50),
    },
    probe: { cdn: cdnS, origin: originS },
  };
}

// Reference: ffmpeg's own 2 s HLS of the same stamped source, served by nginx from disk, the same hls.js.
source.kill('SIGTERM'); // free the CPU the main chain's source used
if (wanted('ffmpeg-hls-reference')) {
  const refDir = mkdtempSync(join(os.tmpdir(), 'ws-ref-hls-'));
  chmodSync(refDir, 0o755);
  const refPort = await freePort();
  writeFileSync(
    join(refDir, 'nginx.conf'),
    `worker_processes 1; pid ${refDir}/nginx.pid; error_log ${refDir}/error.log; events {}
  http { access_log off; types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
    server { listen 127.0.0.1:${refPort}; root ${refDir}; add_header Access-Control-Allow-Origin *; add_header Cache-Control no-cache; } }`,
  );
  const refNginx: ChildProcess = track(
    spawn('/usr/sbin/nginx', ['-p', refDir, '-c', join(refDir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: 'ignore',
      detached: true,
    }),
  );
  const refSource = new StampedSource({
    url: 'reference',
    outputArgs: [
      '-f',
      'hls',
      '-hls_time',
      '2',
      '-hls_list_size',
      '6',
      '-hls_flags',
      'delete_segments+temp_file',
      join(refDir, 'index.m3u8'),
    ],
  });
  refSource.start();
  await new Promise((r) => setTimeout(r, 8000));
  const ref = await meter({
    url: `http://127.0.0.1:${refPort}/index.m3u8`,
    player: 'hls',
    lowLatency: false,
    seconds: SECONDS,
    warmupSec: WARMUP,
  });
  report['ffmpeg-hls-reference'] = {
    playerGlassToGlassMs: stats(ref.samples.map((s) => s.latencyMs)),
    stalls: ref.stalls,
    stalledMs: ref.stalledMs,
    unreadableFrames: ref.unreadable,
  };
  await refSource.stop();
  refNginx.kill('SIGQUIT');
}

const publish = await metrics.publishLatency.get();
const sumOf = (kind: string, k: string): number =>
  publish.values.find((v) => v.labels.kind === kind && v.metricName?.endsWith(k))?.value ?? NaN;
const result = {
  bench: 'latency',
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  config: {
    secondsPerMode: SECONDS,
    warmupSec: WARMUP,
    source: 'stamped 1280x720 30 fps, x264 ultrafast zerolatency, RTMP',
    ladder: `720p/480p/360p + AAC (default${PRESET ? `, every rung x264 ${PRESET}` : ', x264 veryfast'}), 2 s segments, ${PART_SEC * 1000} ms parts`,
    cdn: 'Varnish 7.1, one fetch streamed to all waiters (deploy/varnish)',
    players: `Chromium 156 headless: hls.js (lowLatencyMode for ll-hls), dash.js 5 (ServiceDescription target ${config.targetLatencyMs / 1000} s)`,
  },
  chunkToRedisMs: { partMean: Math.round((sumOf('part', '_sum') / sumOf('part', '_count')) * 1e5) / 100 },
  modes: report,
  notes: [
    "availability = when a frame's bytes are first downloadable minus the stamp written when the frame was handed to the encoder",
    'originToCdn and playerHoldBack are differences of medians; they do not add up exactly to the player figure',
  ],
};
writeFileSync(join(out, 'report.json'), JSON.stringify(result, null, 2));
writeFileSync(join(out, 'report.svg'), latencySvg(series, 'Player glass-to-glass latency through the CDN'));
console.log(JSON.stringify(result, null, 2));
await node.stop();
await cdn.stop();
await redis.stop();
process.exit(0);
