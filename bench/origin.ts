/**
 * npm run bench:origin — manifest job latency (part in Redis -> new playlist readable), and reader throughput
 * measured by a load generator in another process (wrk) on loopback for (a) the newest segment, (b) a live
 * playlist (the reader as configured by default, and a second reader with READER_MANIFEST_CACHE_MS), with nginx
 * serving the same bytes from disk as the reference, each with its CPU time per request from /proc (a figure
 * that holds when other work shares the cores, unlike requests/s), and for the playlist a second reference: a
 * bare node:http server writing the reader's own header list and body and nothing else (the floor of a Node
 * reader on this machine, in the same run), and (c) a blocking-reload fan-out of
 * BENCH_FANOUT (default 1000) waiting clients released by one part: what the clients see (in their own process)
 * and what the reader does (its wellspring_blocking_release_seconds for that release). Prints JSON.
 *
 * Env: BENCH_SECONDS (per wrk run, default 10), BENCH_FANOUT, BENCH_MANIFEST_CACHE_MS (second reader, default
 * 250), BENCH_PROFILE_DIR (--cpu-prof for the default reader).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import { testSourceArgs } from '../tools/source/test-source.js';
import { freePort, startRedisServer } from '../tools/process/redis-server.js';
import { track } from '../src/adapters/process/children.js';
import { parseConfig, redisTarget } from '../src/config.js';
import pino from 'pino';
import { createMetrics } from '../src/metrics.js';
import type { MediaEvent } from '../src/store/ports.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { startNode } from '../workers/compose.js';
import { ensureWrk, startNginxReference, throughputRatio, wrk as wrkRun } from './lib/reference.js';
import { summarize } from './stats.js';

const WRK_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FANOUT = Number(process.env.BENCH_FANOUT ?? 1000);
const CACHE_MS = Number(process.env.BENCH_MANIFEST_CACHE_MS ?? 250);
/** BENCH_PROFILE_DIR: the reader runs with --cpu-prof and writes its profile there when it stops. */
const PROFILE_ARGS = process.env.BENCH_PROFILE_DIR
  ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR]
  : [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

ensureWrk();

const redis = await startRedisServer();
const ladder = [{ name: '360p', height: 360, videoBitrateK: 700, preset: 'veryfast' as const }];
const config = parseConfig({
  redisUrl: redis.url,
  rtmp: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  httpIngest: { host: '127.0.0.1', port: 0 },
  logLevel: 'error',
  defaults: { ladder },
});
// The origin's log lines go to stderr: stdout is the report's JSON alone.
const node = await startNode(
  config,
  ['ingest', 'manifest'],
  pino({ name: 'wellspring', level: 'error' }, pino.destination(2)),
  createMetrics(),
);

// The readers under test run in their own processes, as in production: the default configuration, and one
// that answers plain playlist requests from its manifest cache.
const startReader = (port: number, env: Record<string, string>, args: string[] = []): ChildProcess =>
  track(
    spawn(process.execPath, [...args, '--import', 'tsx', 'workers/reader.ts'], {
      env: { ...process.env, REDIS_URL: redis.url, HTTP_PORT: String(port), LOG_LEVEL: 'error', ...env },
      stdio: 'ignore',
      detached: true,
    }),
  );
const readerPort = await freePort();
const reader = startReader(readerPort, { READER_MANIFEST_CACHE_MS: '0' }, PROFILE_ARGS);
const cachedPort = await freePort();
const cachedReader = startReader(cachedPort, { READER_MANIFEST_CACHE_MS: String(CACHE_MS) });
const source = track(
  spawn(
    'ffmpeg',
    testSourceArgs({ url: `rtmp://127.0.0.1:${node.rtmpPort}/live/b`, width: 640, height: 360 }),
    { stdio: 'ignore', detached: true },
  ),
);
const base = `http://127.0.0.1:${readerPort}/live/b`;

// Manifest job latency from the events: part announced (bytes in Redis) -> manifest announced (stored).
const events = createRedisStore({
  target: redisTarget(config),
  prefix: config.keyPrefix,
  role: 'command',
  subscribe: true,
});
const partAt = new Map<string, number>();
const jobLatency: number[] = [];
const lastManifestAt = new Map<string, number>();
let measuring = false;
const subscription = events.events.subscribe('b', (ev: MediaEvent) => {
  const now = performance.now();
  if (ev.t === 'part') partAt.set(`${ev.r}:${ev.msn}:${ev.i}`, now);
  if (ev.t === 'manifest') {
    for (const [r, p] of Object.entries(ev.pos)) {
      lastManifestAt.set(`${r}:${p.msn}:${p.part}`, now);
      for (const [k, t] of partAt) {
        const [kr, km, ki] = k.split(':');
        if (kr === r && (Number(km) < p.msn || (Number(km) === p.msn && Number(ki) <= p.part))) {
          if (measuring) jobLatency.push(now - t);
          partAt.delete(k);
        }
      }
    }
  }
});
await subscription.ready;

for (let i = 0; i < 100; i++) {
  if ((await fetch(`${base}/360p/index.m3u8`).catch(() => undefined))?.status === 200) break;
  await sleep(200);
}
await sleep(6000);
measuring = true;
await sleep(20_000);
measuring = false;

// Load generators run as async child processes: this process hosts the ingest, which must keep running.
const run = promisify(execFile);

const wrk = (url: string, pid?: number) => wrkRun(url, { seconds: WRK_SECONDS, pid });

// nginx serving the same bytes from disk: the reference.
const playlistText = await (await fetch(`${base}/360p/index.m3u8`)).text();
const segs = [...playlistText.matchAll(/^(seg-\d+\.m4s)$/gm)].map((m) => m[1]!);
const newestSeg = segs[segs.length - 1]!;
const segBytes = Buffer.from(await (await fetch(`${base}/360p/${newestSeg}`)).arrayBuffer());
const nginx = await startNginxReference({ [newestSeg]: segBytes, 'index.m3u8': playlistText });
const nginxPort = nginx.port;

for (let i = 0; i < 100; i++) {
  if ((await fetch(`http://127.0.0.1:${cachedPort}/healthz`).catch(() => undefined))?.status === 200) break;
  await sleep(200);
}
// The floor of a reader written on node:http: a bare server answering the reader's own header list and body.
const plAnswer = await fetch(`${base}/360p/index.m3u8`);
const floorHeaders = [...plAnswer.headers]
  .filter(([k]) => !['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(k))
  .flat();
const floorPort = await freePort();
const floor = track(
  spawn(
    process.execPath,
    [
      '-e',
      `const b = Buffer.from(process.env.FLOOR_BODY, 'base64'); const h = JSON.parse(process.env.FLOOR_HEADERS);
       require('node:http').createServer((q, s) => { s.writeHead(200, h); s.end(b); }).listen(${floorPort}, '127.0.0.1');`,
    ],
    {
      env: {
        ...process.env,
        FLOOR_BODY: Buffer.from(await plAnswer.arrayBuffer()).toString('base64'),
        FLOOR_HEADERS: JSON.stringify(floorHeaders),
      },
      stdio: 'ignore',
      detached: true,
    },
  ),
);
const floorUrl = `http://127.0.0.1:${floorPort}/index.m3u8`;
for (let i = 0; i < 100; i++) {
  if ((await fetch(floorUrl).catch(() => undefined))?.status === 200) break;
  await sleep(100);
}
const ratio = throughputRatio;
// Warm-up, not counted: a reader's first seconds under load run code the JIT has not optimised yet (a cold
// reader's first wrk run cost 14-44 % more CPU per request than its second in the H3 probe), and the cached
// reader had served nothing before its turn.
for (const u of [
  `${base}/360p/${newestSeg}`,
  `${base}/360p/index.m3u8`,
  `http://127.0.0.1:${cachedPort}/live/b/360p/index.m3u8`,
  floorUrl,
])
  await wrkRun(u, { seconds: 2 });
const load0 = os.loadavg();
const seg = {
  bytes: segBytes.length,
  reader: await wrk(`${base}/360p/${newestSeg}`, reader.pid),
  nginxFromDisk: await wrk(`http://127.0.0.1:${nginxPort}/${newestSeg}`, nginx.pid),
};
const plReader = await wrk(`${base}/360p/index.m3u8`, reader.pid);
const plCached = await wrk(`http://127.0.0.1:${cachedPort}/live/b/360p/index.m3u8`, cachedReader.pid);
const plNginx = await wrk(`http://127.0.0.1:${nginxPort}/index.m3u8`, nginx.pid);
const plFloor = await wrk(floorUrl, floor.pid);
const results = {
  newestSegment: { ...seg, readerToNginx: ratio(seg.reader, seg.nginxFromDisk) },
  livePlaylist: {
    bytes: Buffer.byteLength(playlistText),
    reader: plReader,
    [`readerManifestCache${CACHE_MS}ms`]: plCached,
    nginxFromDisk: plNginx,
    readerToNginx: ratio(plReader, plNginx),
    cachedReaderToNginx: ratio(plCached, plNginx),
    bareNodeHttp: plFloor,
    bareNodeHttpToNginx: ratio(plFloor, plNginx),
  },
};
const load1 = os.loadavg();

/** The reader's wellspring_blocking_release_seconds: count and sum. */
async function releaseTotals(): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`http://127.0.0.1:${readerPort}/metrics`)).text();
  const v = (n: string): number =>
    Number(new RegExp(`^wellspring_blocking_release_seconds_${n} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { count: v('count'), sum: v('sum') };
}

// (c) FANOUT clients hold a blocking reload for the next part; measure their release after the part lands.
const rel0 = await releaseTotals();
const live = await (await fetch(`${base}/360p/index.m3u8`)).text();
const hint = /PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(live)!;
const [msn, part] = [Number(hint[1]), Number(hint[2])];
// One segment after the hinted part: the clients have a segment's time to connect and be held before it lands
// (the hinted part itself often lands before a thousand connections are even accepted on 2 busy cores).
const fanUrl = `${base}/360p/index.m3u8?_HLS_msn=${msn + 1}&_HLS_part=${part}`;
const { stdout: out } = await run(
  process.execPath,
  ['--import', 'tsx', 'bench/fanout-client.ts', fanUrl, String(FANOUT)],
  {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  },
);
const fan = JSON.parse(out) as {
  sentAt: number;
  results: Array<{ status: number; doneAtMs: number; bytes: number }>;
};
const rel1 = await releaseTotals();
const releaseAt = fan.results.filter((r) => r.status === 200).map((r) => r.doneAtMs);
const first = Math.min(...releaseAt);
const fanout = {
  clients: FANOUT,
  ok: releaseAt.length,
  statuses: fan.results.reduce<Record<string, number>>(
    (a, r) => ((a[r.status] = (a[r.status] ?? 0) + 1), a),
    {},
  ),
  heldMs: summarize(releaseAt.map((t) => t - fan.sentAt)),
  clientsSeeReleaseSpreadAfterFirstMs: summarize(releaseAt.map((t) => t - first)),
  readerRelease: {
    batches: rel1.count - rel0.count,
    meanMs: Math.round(((rel1.sum - rel0.sum) / Math.max(1, rel1.count - rel0.count)) * 1e5) / 100,
    what: 'inside the reader: manifest event heard -> the last held reload it satisfied written (store read included)',
  },
  mbSent: Math.round(fan.results.reduce((n, r) => n + r.bytes, 0) / 1e4) / 100,
};

source.kill('SIGINT');
reader.kill('SIGTERM');
cachedReader.kill('SIGTERM');
floor.kill('SIGTERM');
await nginx.stop(); // also removes the reference's files, config and logs
subscription.close();
await events.close();
await node.stop();
await redis.stop();
console.log(
  JSON.stringify(
    {
      bench: 'origin',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      loadAverage1m: {
        beforeWrk: Math.round(load0[0]! * 100) / 100,
        afterWrk: Math.round(load1[0]! * 100) / 100,
      },
      niceness: os.getPriority(),
      config: {
        source: '640x360 30 fps RTMP, ladder 360p (x264 veryfast) + AAC, 2 s segments, 200 ms parts',
        loadGenerator: `wrk -t1 -c32 -d${WRK_SECONDS}s, separate process, loopback`,
        readerProcess: `workers/reader.ts, its own process (default config; a second one with READER_MANIFEST_CACHE_MS=${CACHE_MS})`,
        cpu: 'cpuUsPerRequest: user+system CPU of the server process over the wrk run / requests (from /proc)',
        reference: 'nginx 1.22 serving the same bytes from disk (sendfile)',
        floor:
          "bareNodeHttp: node:http answering the reader's own playlist header list and body, nothing else",
      },
      manifestJobLatencyMs: summarize(jobLatency),
      ...results,
      blockingReloadFanout: fanout,
    },
    null,
    2,
  ),
);
process.exit(0);
