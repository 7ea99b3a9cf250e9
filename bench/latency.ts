/**
 * npm run bench:latency — the whole chain: stamped source -> RTMP -> ingest -> Redis -> manifest worker -> reader
 * -> Varnish CDN -> player, for LL-HLS (hls.js), LL-DASH (dash.js) and classic HLS (hls.js, 2 s segments), plus
 * ffmpeg's own 2 s HLS played by the same hls.js as the reference. Each mode runs BENCH_SECONDS (default 300).
 * Writes out/latency/report.json and report.svg and prints the JSON.
 * Stages the origin can see: chunk -> Redis (publish), part -> playlist (manifest job), origin -> CDN (probe at the
 * origin vs through the CDN), player hold-back (player glass-to-glass minus CDN availability), of which the media
 * the player keeps buffered ahead of its playhead. What is left of the availability latency at the origin is the
 * encoder and transcoder.
 *
 * Levers (BENCH_LEVERS=all or a comma list of names from LEVERS below): each lever is one change against the
 * baseline (players at their defaults, the default ladder and packaging), run on a fresh chain with BENCH_JOINS
 * joins (default 3: hls.js without catch-up keeps whatever latency its join gave it) of BENCH_SECONDS each; the
 * report's `levers` table gives each lever's p50 before (baseline) and after.
 *
 * Env for a single run: BENCH_PRESET (x264 preset of every rung), BENCH_PART_SEC, BENCH_KEYFRAME_SEC (how often a
 * part is independent), BENCH_TARGET_MS (LL-DASH ServiceDescription target), BENCH_PLAYER (defaults|tuned, or a
 * JSON object merged into the hls.js config / dash.js streaming settings), BENCH_MODES (comma list), BENCH_JOINS,
 * BENCH_TRANSCODER_NICE (the origin's transcoderNice), BENCH_PLAYER_NICE (the players' Chromium,
 * default 10: a viewer's device does not share the origin's CPU).
 *
 * Per mode the report also says what preceded each stall (stallsDetail) and gives a coarse timeline, all on one
 * clock: the player's stalls and events, the availability at the origin, the ingest's lag (parts announced late
 * against media time) and the manifest worker's, CPU per process role and load1 (tools/latency/timeline.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVarnishCdn } from '../tools/process/varnish.js';
import { track } from '../src/adapters/process/children.js';
import { freePort, startRedisServer } from '../tools/process/redis-server.js';
import { DEFAULT_LADDER, parseConfig, redisTarget } from '../src/config.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { type MeterOptions, type MeterResult, meter } from '../tools/latency/browser-meter.js';
import { decodeStats, latencySvg, percentile, probe, summarizeProbe } from '../tools/latency/probe.js';
import { StampedSource } from '../tools/source/stamped-source.js';
import { EventTap, ProcessSampler, stallContext, timeline } from '../tools/latency/timeline.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { startNode } from '../workers/compose.js';

type Preset = 'superfast' | 'veryfast' | 'ultrafast' | 'faster';
type PlayerConfig = NonNullable<MeterOptions['playerConfig']>;
type ModeName = 'll-hls' | 'll-dash' | 'hls';

/** One configuration of the chain and the players. */
interface Variant {
  name: string;
  what: string;
  preset?: Preset;
  partSec: number;
  keyframeSec?: number;
  targetMs?: number;
  hlsPlayer: PlayerConfig;
  dashPlayer: PlayerConfig;
  modes: ModeName[];
  /** Niceness of the ladder's ffmpeg (negative: it wins the CPU over the measuring chain); unset: 0. */
  transcoderNice?: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 300);
const JOINS = Number(process.env.BENCH_JOINS ?? (process.env.BENCH_LEVERS ? 3 : 1));
const WARMUP = Number(process.env.BENCH_WARMUP_SEC ?? 10);
/** Before a join: the newest parts within this of the best ingest lag seen (BENCH_SETTLE_LAG_MS), waited for up to SETTLE_MAX_MS. */
const SETTLE_LAG_MS = Number(process.env.BENCH_SETTLE_LAG_MS ?? 300);
const SETTLE_MAX_MS = 60_000;
/** Niceness of the players' Chromium: the viewer's device yields the shared CPU to the origin (0 = off). */
const PLAYER_NICE = Number(process.env.BENCH_PLAYER_NICE ?? 10);
const out = join(process.cwd(), 'out', 'latency');
mkdirSync(out, { recursive: true });
const envPlayer = (): PlayerConfig => {
  const p = process.env.BENCH_PLAYER ?? 'tuned';
  return p.startsWith('{') ? (JSON.parse(p) as Record<string, unknown>) : (p as 'tuned' | 'defaults');
};
const ONLY = process.env.BENCH_MODES?.split(',').map((x) => x.trim());

const BASE: Variant = {
  name: 'baseline',
  what: 'players at their defaults (hls.js lowLatencyMode; dash.js with its low-latency catch-up), default ladder (x264 superfast, a keyframe per 2 s segment), 200 ms parts',
  partSec: 0.2,
  hlsPlayer: 'defaults',
  dashPlayer: 'defaults',
  modes: ['ll-hls', 'll-dash'],
};

/** The levers, each one change against the baseline. */
const LEVERS: Variant[] = [
  BASE,
  {
    ...BASE,
    name: 'keyframe-1s',
    what: 'a keyframe (an independent part) every 1 s instead of every 2 s segment',
    keyframeSec: 1,
    modes: ['ll-hls'],
  },
  {
    ...BASE,
    name: 'keyframe-0.4s',
    what: 'a keyframe every 0.4 s: every other part independent',
    keyframeSec: 0.4,
    modes: ['ll-hls'],
  },
  {
    ...BASE,
    name: 'keyframe-0.2s',
    what: 'a keyframe every part: every part independent',
    keyframeSec: 0.2,
    modes: ['ll-hls', 'll-dash'],
  },
  {
    ...BASE,
    name: 'hls.js-catch-up',
    what: 'hls.js maxLiveSyncPlaybackRate 1.1 (plays up to 10% faster until it is at PART-HOLD-BACK)',
    hlsPlayer: 'tuned',
    modes: ['ll-hls'],
  },
  {
    ...BASE,
    name: 'part-0.1s',
    what: '100 ms parts (PART-HOLD-BACK 0.3 s instead of 0.6 s)',
    partSec: 0.1,
    modes: ['ll-hls', 'll-dash'],
  },
  {
    ...BASE,
    name: 'dash-target-1.0s',
    what: 'LL-DASH ServiceDescription target latency 1.0 s (default 1.5 s)',
    targetMs: 1000,
    modes: ['ll-dash'],
  },
  {
    ...BASE,
    name: 'transcoder-priority',
    what: 'transcoderNice -5 (the ladder ffmpeg at nice -5): it wins the 2 shared cores over the measuring chain (source, probes, player), as an origin with its own CPU would',
    transcoderNice: -5,
  },
  {
    ...BASE,
    name: 'hls.js-stall-increase-0.1',
    what: 'hls.js catch-up (maxLiveSyncPlaybackRate 1.1) and liveSyncOnStallIncrease 0.1 s (default 1 s per stall, up to a target duration)',
    hlsPlayer: { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.1, liveSyncOnStallIncrease: 0.1 },
    modes: ['ll-hls'],
  },
  {
    ...BASE,
    name: 'best+priority',
    what: 'best, with the ladder ffmpeg at nice -5',
    keyframeSec: 0.2,
    targetMs: 1000,
    hlsPlayer: 'tuned',
    transcoderNice: -5,
    modes: ['ll-hls', 'll-dash'],
  },
  {
    ...BASE,
    name: 'best+priority+stall-0.1',
    what: 'best+priority, and hls.js liveSyncOnStallIncrease 0.1 s: hls.js counts the buffer stall of its own join (before the first frame) and by default adds 1 s to its target for it',
    keyframeSec: 0.2,
    targetMs: 1000,
    hlsPlayer: { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.1, liveSyncOnStallIncrease: 0.1 },
    transcoderNice: -5,
    modes: ['ll-hls'],
  },
  {
    ...BASE,
    name: 'best',
    what: 'keyframe every part + hls.js catch-up + dash.js target 1.0 s',
    keyframeSec: 0.2,
    targetMs: 1000,
    hlsPlayer: 'tuned',
    modes: ['ll-hls', 'll-dash'],
  },
];

const leverNames = process.env.BENCH_LEVERS?.split(',').map((x) => x.trim());
const variants: Variant[] = leverNames
  ? leverNames.includes('all')
    ? LEVERS
    : leverNames.map((n) => {
        const v = LEVERS.find((l) => l.name === n);
        if (!v) throw new Error(`unknown lever ${n}; known: ${LEVERS.map((l) => l.name).join(', ')}`);
        return v;
      })
  : [
      {
        name: 'run',
        what: 'configured from the environment',
        preset: process.env.BENCH_PRESET as Preset | undefined,
        partSec: Number(process.env.BENCH_PART_SEC ?? 0.2),
        keyframeSec: process.env.BENCH_KEYFRAME_SEC ? Number(process.env.BENCH_KEYFRAME_SEC) : undefined,
        targetMs: process.env.BENCH_TARGET_MS ? Number(process.env.BENCH_TARGET_MS) : undefined,
        hlsPlayer: envPlayer(),
        dashPlayer: envPlayer(),
        modes: ['ll-hls', 'll-dash', 'hls'],
        // BENCH_TRANSCODER_NICE: the origin's transcoderNice (who wins the CPU).
        transcoderNice: process.env.BENCH_TRANSCODER_NICE
          ? Number(process.env.BENCH_TRANSCODER_NICE)
          : undefined,
      },
    ];

const redis = await startRedisServer();
// CPU per process of everything this bench starts (and load1), every second, for the whole run.
const cpuSampler = new ProcessSampler();
cpuSampler.start();
const stats = (l: number[]) => ({
  n: l.length,
  p50: percentile(l, 0.5),
  p95: percentile(l, 0.95),
  max: l.length ? Math.max(...l) : NaN,
});
const series: Array<{ label: string; points: Array<{ tSec: number; ms: number }> }> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load1 = (): number => Math.round(os.loadavg()[0]! * 100) / 100;

async function runVariant(v: Variant, index: number): Promise<Record<string, unknown>> {
  const metrics = createMetrics();
  const config = parseConfig({
    redisUrl: redis.url,
    keyPrefix: `lat${index}`,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    httpIngest: { enabled: false },
    logLevel: 'error',
    ...(v.targetMs ? { targetLatencyMs: v.targetMs } : {}),
    // The origin's own setting (config transcoderNice): the ingest sets it on every ladder ffmpeg it starts.
    ...(v.transcoderNice ? { transcoderNice: v.transcoderNice } : {}),
    defaults: {
      partSec: v.partSec,
      ladder: DEFAULT_LADDER.map((r) => ({
        ...r,
        ...(v.preset ? { preset: v.preset } : {}),
        ...(v.keyframeSec ? { keyframeSec: v.keyframeSec } : {}),
      })),
    },
  });
  const node = await startNode(
    config,
    ['ingest', 'manifest', 'reader'],
    createLogger(process.env.BENCH_LOG_LEVEL ?? 'error', 'wellspring', 2),
    metrics,
  );
  const cdn = await startVarnishCdn(
    [node.httpPort!],
    fileURLToPath(new URL('../deploy/varnish/wellspring.vcl.template', import.meta.url)),
  );
  // The source runs in its own process: frame pacing must not share an event loop with the origin it measures.
  const source = track(
    spawn(
      process.execPath,
      ['--import', 'tsx', 'workers/stamped-source.ts', `rtmp://127.0.0.1:${node.rtmpPort}/live/lat`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
        env: { ...process.env, STAMPED_SOURCE_REPORT_MS: '1000' },
      },
    ),
  );
  // The source's own count of frames it dropped (its encoder behind): lost media time, on our clock.
  const sourceDrops: Array<{ atMs: number; dropped: number }> = [];
  let sourceErr = '';
  source.stderr?.on('data', (d: Buffer) => {
    sourceErr += d.toString();
    const lines = sourceErr.split('\n');
    sourceErr = lines.pop() ?? '';
    for (const l of lines) {
      const m = /^stamped-source (\{.*\})$/.exec(l);
      if (m) sourceDrops.push(JSON.parse(m[1]!) as { atMs: number; dropped: number });
    }
  });
  // The stream's own announcements (parts from the ingest, manifests from the manifest worker), on our clock.
  const tapStore = createRedisStore({
    target: redisTarget(config),
    prefix: config.keyPrefix,
    role: 'reader',
    subscribe: true,
  });
  const tap = new EventTap(tapStore.events, 'lat');
  await tap.start();
  const lowest = config.defaults.ladder?.[config.defaults.ladder.length - 1]?.name ?? '360p';
  const originBase = `http://127.0.0.1:${node.httpPort}/live/lat`;
  const cdnBase = `${cdn.url}/live/lat`;
  for (
    let i = 0;
    i < 100 && (await fetch(`${originBase}/master.m3u8`).catch(() => undefined))?.status !== 200;
    i++
  )
    await sleep(300);
  await sleep(5000);
  /**
   * A player joins only once the chain has caught up with its own start-up (Chromium and the probes starting
   * take CPU the ladder needs): the last 10 parts announced within SETTLE_LAG_MS of the best lag seen, or
   * SETTLE_MAX_MS. Returns how long that took; a join into a backlog would measure the start-up, not the chain.
   */
  const settle = async (): Promise<number> => {
    const t = performance.now();
    while (performance.now() - t < SETTLE_MAX_MS) {
      const recent = tap.lags(lowest, config.defaults.segmentSec ?? 2, v.partSec).slice(-10);
      if (recent.length === 10 && Math.max(...recent.map((x) => x.ingestLagMs)) <= SETTLE_LAG_MS) break;
      await sleep(500);
    }
    return Math.round(performance.now() - t);
  };
  const modes = {
    'll-hls': { player: 'hls' as const, lowLatency: true, path: 'master.m3u8' },
    'll-dash': { player: 'dash' as const, lowLatency: true, path: 'manifest-ll.mpd' },
    hls: { player: 'hls' as const, lowLatency: false, path: 'master.m3u8' },
  };
  const report: Record<string, unknown> = {};
  for (const name of v.modes.filter((m) => !ONLY || ONLY.includes(m))) {
    const m = modes[name];
    const url = `${cdnBase}/${m.path}`;
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const joins: MeterResult[] = [];
    const loads: number[] = [];
    let probes: [Awaited<ReturnType<typeof probe>>, Awaited<ReturnType<typeof probe>>] | undefined;
    const settleMs: number[] = [];
    for (let j = 0; j < JOINS; j++) {
      settleMs.push(await settle());
      loads.push(load1());
      const player = meter({
        url,
        player: m.player,
        lowLatency: m.lowLatency,
        seconds: SECONDS,
        warmupSec: WARMUP,
        timeUrl: `${cdn.url}/time`,
        playerConfig: m.player === 'hls' ? v.hlsPlayer : v.dashPlayer,
        nice: PLAYER_NICE,
      });
      // Availability at the CDN and at the origin, probed beside the first join.
      if (j === 0) {
        const [a, b, p] = await Promise.all([
          probe(url, SECONDS, WARMUP),
          probe(`${originBase}/${m.path}`, SECONDS, WARMUP),
          player,
        ]);
        probes = [a, b];
        joins.push(p);
      } else joins.push(await player);
      loads.push(load1());
    }
    const wallEnd = Date.now();
    const cpu = process.cpuUsage(cpu0);
    const originCores =
      Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 1000) / 1000;
    const speed = (await metrics.ffmpegSpeed.get()).values[0]?.value;
    const dropped = (await metrics.ffmpegDropped.get()).values[0]?.value;
    const cdnS = summarizeProbe(probes![0]);
    const originS = summarizeProbe(probes![1]);
    const g2g = joins.flatMap((p) => p.samples.map((s) => s.latencyMs));
    const ahead = joins.flatMap((p) => p.samples.map((s) => s.aheadMs ?? NaN)).filter(Number.isFinite);
    joins.forEach((p, j) => {
      const t0 = p.samples[0]?.atMs ?? 0;
      series.push({
        label: `${v.name} ${name}${JOINS > 1 ? ` join ${j + 1}` : ''}`,
        points: p.samples.map((s) => ({ tSec: (s.atMs - t0) / 1000, ms: s.latencyMs })),
      });
    });
    // What preceded each stall, and a coarse timeline of the mode (first join), all on the Unix clock.
    const t0 = joins[0]?.countFromMs ?? wallEnd - SECONDS * 1000;
    const lags = tap
      .lags(lowest, config.defaults.segmentSec ?? 2, v.partSec)
      .filter((l) => l.atMs >= t0 && l.atMs <= wallEnd);
    const dropsIn = sourceDrops.filter((x) => x.atMs >= t0 && x.atMs <= wallEnd);
    const dropDeltas = dropsIn.slice(1).map((x, k) => ({ atMs: x.atMs, v: x.dropped - dropsIn[k]!.dropped }));
    const stallsDetail = joins.flatMap((p, j) =>
      stallContext(p.stallList ?? [], {
        originSamples: probes![1].samples,
        lags,
        cpu: cpuSampler,
        playerEvents: p.events ?? [],
        t0: p.countFromMs ?? t0,
        sourceDrops: dropDeltas,
      }).map((s) => ({ join: j + 1, ...s })),
    );
    const cpuPts = cpuSampler.points.filter((p) => p.atMs >= t0 && p.atMs <= wallEnd);
    const coresOf = (role: string) => cpuPts.map((p) => ({ atMs: p.atMs, v: (p.cores[role] ?? 0) * 100 }));
    const stepMs = Math.max(2000, Math.round((SECONDS * 1000) / 60 / 1000) * 1000);
    const tl = timeline(t0, t0 + SECONDS * 1000, stepMs, {
      playerG2gMs: {
        points: (joins[0]?.samples ?? []).map((x) => ({ atMs: x.atMs, v: x.latencyMs })),
        agg: 'max',
      },
      stalledMs: {
        points: (joins[0]?.stallList ?? []).map((x) => ({ atMs: x.atMs, v: x.ms })),
        agg: 'max',
      },
      originAvailMs: {
        points: probes![1].samples.map((x) => ({ atMs: x.atMs, v: x.latencyMs })),
        agg: 'max',
      },
      ingestLagMs: { points: lags.map((x) => ({ atMs: x.atMs, v: x.ingestLagMs })), agg: 'max' },
      manifestLagMs: {
        points: lags.flatMap((x) =>
          x.manifestLagMs === undefined ? [] : [{ atMs: x.atMs, v: x.manifestLagMs }],
        ),
        agg: 'max',
      },
      sourceDroppedFrames: { points: dropDeltas, agg: 'max' },
      load1x100: { points: cpuPts.map((p) => ({ atMs: p.atMs, v: p.load1 * 100 })), agg: 'max' },
      totalCpuPct: {
        points: cpuPts.map((p) => ({
          atMs: p.atMs,
          v: Object.values(p.cores).reduce((a, b) => a + b, 0) * 100,
        })),
        agg: 'mean',
      },
      transcoderCpuPct: { points: coresOf('transcoder-ffmpeg'), agg: 'mean' },
      chromiumCpuPct: { points: coresOf('chromium'), agg: 'mean' },
    });
    const lagStats = (l: number[]) => ({
      p50: percentile(l, 0.5),
      p95: percentile(l, 0.95),
      max: l.length ? Math.max(...l) : NaN,
    });
    report[name] = {
      playerGlassToGlassMs: stats(g2g),
      /** Per join: how long the chain took to settle before the player joined (settle()). */
      settleBeforeJoinMs: settleMs,
      joinsP50Ms: joins.map((p) =>
        percentile(
          p.samples.map((s) => s.latencyMs),
          0.5,
        ),
      ),
      // The transcoder's speed at the end of the mode: below 1.0 the whole chain falls behind real time.
      transcoderSpeed: speed,
      transcoderDroppedFrames: dropped,
      originCpuCores: originCores,
      stalls: joins.reduce((n, p) => n + p.stalls, 0),
      stalledMs: joins.reduce((n, p) => n + p.stalledMs, 0),
      unreadableFrames: joins.reduce((n, p) => n + p.unreadable, 0),
      playerErrors: joins.flatMap((p) => p.errors).slice(0, 5),
      playerView: joins.map((p) => p.playerView),
      // Each join's first player events (seconds from its first event): how it started.
      joinEvents: joins.map((p) => {
        const e = p.events ?? [];
        const z = e[0]?.atMs ?? 0;
        return e.slice(0, 25).map((x) => `${((x.atMs - z) / 1000).toFixed(2)}s ${x.what}`);
      }),
      availabilityAtCdnMs: cdnS.latencyMs,
      availabilityAtOriginMs: originS.latencyMs,
      stagesMs: {
        atOrigin: Math.round(originS.latencyMs.p50),
        originToCdn: Math.round(cdnS.latencyMs.p50 - originS.latencyMs.p50),
        playerHoldBack: Math.round(percentile(g2g, 0.5) - cdnS.latencyMs.p50),
        bufferedAheadOfPlayhead: Math.round(percentile(ahead, 0.5)),
      },
      load1: { min: Math.min(...loads), max: Math.max(...loads) },
      // Lag of the lowest rendition's parts: ingest = announced late against media time (above the best part),
      // manifest = the first manifest listing a part announced after the part itself.
      ingestLagMs: lagStats(lags.map((l) => l.ingestLagMs)),
      manifestLagMs: lagStats(lags.flatMap((l) => (l.manifestLagMs === undefined ? [] : [l.manifestLagMs]))),
      cpuByRole: cpuSampler.summary(t0, wallEnd),
      // Frames the stamped source could not hand to its encoder in this mode's window (media time lost).
      sourceDroppedFrames: dropsIn.length
        ? dropsIn[dropsIn.length - 1]!.dropped - dropsIn[0]!.dropped
        : undefined,
      stallsDetail,
      timeline: { stepSec: stepMs / 1000, rows: tl },
      probe: { cdn: cdnS, origin: originS },
    };
  }
  const publish = await metrics.publishLatency.get();
  const sumOf = (kind: string, k: string): number =>
    publish.values.find((x) => x.labels.kind === kind && x.metricName?.endsWith(k))?.value ?? NaN;
  source.kill('SIGTERM');
  tap.stop();
  await tapStore.close();
  await node.stop();
  await cdn.stop();
  return {
    lever: v.name,
    what: v.what,
    config: {
      ladder: `720p/480p/360p + AAC, x264 ${v.preset ?? 'superfast (default ladder)'}, keyframe every ${v.keyframeSec ?? 2} s, 2 s segments, ${v.partSec * 1000} ms parts`,
      hlsPlayer: v.hlsPlayer,
      dashPlayer: v.dashPlayer,
      dashTargetLatencyMs: config.targetLatencyMs,
      transcoderNice: v.transcoderNice ?? 0,
    },
    chunkToRedisMs: { partMean: Math.round((sumOf('part', '_sum') / sumOf('part', '_count')) * 1e5) / 100 },
    modes: report,
  };
}

const runs: Array<Record<string, unknown>> = [];
for (const [i, v] of variants.entries()) {
  runs.push(await runVariant(v, i));
  writeFileSync(join(out, 'report.json'), JSON.stringify({ partial: true, runs }, null, 2));
}

// Reference: ffmpeg's own 2 s HLS of the same stamped source, served by nginx from disk, the same hls.js.
let reference: Record<string, unknown> | undefined;
if (!leverNames && (!ONLY || ONLY.includes('ffmpeg-hls-reference'))) {
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
  await sleep(8000);
  const ref = await meter({
    url: `http://127.0.0.1:${refPort}/index.m3u8`,
    player: 'hls',
    lowLatency: false,
    seconds: SECONDS,
    warmupSec: WARMUP,
  });
  reference = {
    playerGlassToGlassMs: stats(ref.samples.map((s) => s.latencyMs)),
    stalls: ref.stalls,
    stalledMs: ref.stalledMs,
    unreadableFrames: ref.unreadable,
  };
  await refSource.stop();
  refNginx.kill('SIGQUIT');
}

// Each lever's p50 against the baseline's, per mode.
const base = runs.find((r) => r.lever === 'baseline');
type ModeReport = { playerGlassToGlassMs: { p50: number }; stalls: number; joinsP50Ms: number[] };
const levers = leverNames
  ? runs.flatMap((r) =>
      Object.entries(r.modes as Record<string, ModeReport>).map(([mode, m]) => {
        const before = (base?.modes as Record<string, ModeReport> | undefined)?.[mode];
        return {
          lever: r.lever,
          mode,
          beforeP50Ms: before?.playerGlassToGlassMs.p50,
          afterP50Ms: m.playerGlassToGlassMs.p50,
          deltaMs:
            before === undefined
              ? undefined
              : Math.round(m.playerGlassToGlassMs.p50 - before.playerGlassToGlassMs.p50),
          joinsP50Ms: m.joinsP50Ms,
          stalls: m.stalls,
        };
      }),
    )
  : undefined;

const result = {
  bench: 'latency',
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  config: {
    secondsPerJoin: SECONDS,
    joinsPerMode: JOINS,
    warmupSec: WARMUP,
    source: 'stamped 1280x720 30 fps, x264 ultrafast zerolatency, RTMP',
    cdn: 'Varnish 7.1, one fetch streamed to all waiters (deploy/varnish)',
    playerNice: PLAYER_NICE,
    probeDecodes: { ...decodeStats },
    players:
      'Chromium 156 headless: hls.js 1.7.4 (lowLatencyMode for ll-hls), dash.js 5.2.1; "defaults" = only what the meter needs (dash.js: our /time, lowest rendition)',
  },
  load1AtEnd: load1(),
  levers,
  runs,
  reference,
  notes: [
    "availability = when a frame's bytes are first downloadable minus the stamp written when the frame was handed to the encoder",
    'atOrigin, originToCdn and playerHoldBack are differences of medians; they do not add up exactly to the player figure',
    'bufferedAheadOfPlayhead: the median of media buffered past the playhead, part of the player hold-back',
  ],
};
writeFileSync(join(out, 'report.json'), JSON.stringify(result, null, 2));
writeFileSync(join(out, 'report.svg'), latencySvg(series, 'Player glass-to-glass latency through the CDN'));
console.log(JSON.stringify(result, null, 2));
await redis.stop();
process.exit(0);
