/**
 * npm run bench:origin — manifest job latency (part in Redis -> new playlist readable), and reader throughput
 * measured by a load generator in another process (wrk) on loopback for (a) the newest segment, (b) a live
 * playlist, with nginx serving the same bytes from disk as the reference, and (c) a blocking-reload fan-out of
 * 500 waiting clients released by one part. Prints JSON.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { testSourceArgs } from '../tools/source/test-source.js';
import { freePort, startRedisServer } from '../tools/process/redis-server.js';
import { track } from '../src/adapters/process/children.js';
import { parseConfig, redisTarget } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import type { MediaEvent } from '../src/store/ports.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { startNode } from '../workers/compose.js';
import { summarize } from './stats.js';

const WRK_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FANOUT = Number(process.env.BENCH_FANOUT ?? 500);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

execFileSync('bash', [
  '-c',
  'command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || sudo apt-get install -y -qq wrk >/dev/null)',
]);

const redis = await startRedisServer();
const ladder = [{ name: '360p', height: 360, videoBitrateK: 700, preset: 'veryfast' as const }];
const config = parseConfig({
  redisUrl: redis.url,
  rtmp: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  logLevel: 'error',
  defaults: { ladder },
});
const node = await startNode(config, ['ingest', 'manifest'], createLogger('error'), createMetrics());

// The reader under test runs in its own process, as in production.
const readerPort = await freePort();
const reader: ChildProcess = track(
  spawn(process.execPath, ['--import', 'tsx', 'workers/reader.ts'], {
    env: { ...process.env, REDIS_URL: redis.url, HTTP_PORT: String(readerPort), LOG_LEVEL: 'error' },
    stdio: 'ignore',
    detached: true,
  }),
);
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

async function wrk(url: string): Promise<Record<string, number>> {
  const { stdout: out } = await run('wrk', ['-t1', '-c32', `-d${WRK_SECONDS}s`, '--latency', url], {
    encoding: 'utf8',
  });
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const ms = (s: string | undefined): number =>
    !s
      ? NaN
      : s.endsWith('us')
        ? Number.parseFloat(s) / 1000
        : s.endsWith('ms')
          ? Number.parseFloat(s)
          : Number.parseFloat(s) * 1000;
  const lat = (p: string): number => ms(new RegExp(`\\s${p}%\\s+([\\d.]+\\w+)`).exec(out)?.[1]);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const mb = transfer
    ? Number(transfer[1]) * ({ B: 1e-6, KB: 1e-3, MB: 1, GB: 1e3 }[transfer[2]!] ?? 1)
    : NaN;
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    mbPerSec: Math.round(mb * 10) / 10,
    p50Ms: lat('50'),
    p90Ms: lat('90'),
    p99Ms: lat('99'),
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0,
  };
}

// nginx serving the same bytes from disk: the reference.
const playlistText = await (await fetch(`${base}/360p/index.m3u8`)).text();
const segs = [...playlistText.matchAll(/^(seg-\d+\.m4s)$/gm)].map((m) => m[1]!);
const newestSeg = segs[segs.length - 1]!;
const segBytes = Buffer.from(await (await fetch(`${base}/360p/${newestSeg}`)).arrayBuffer());
const www = mkdtempSync(join(os.tmpdir(), 'ws-bench-www-'));
chmodSync(www, 0o755); // nginx workers run as nobody
writeFileSync(join(www, newestSeg), segBytes);
writeFileSync(join(www, 'index.m3u8'), playlistText);
const nginxPort = await freePort();
writeFileSync(
  join(www, 'nginx.conf'),
  `worker_processes 1; pid ${www}/nginx.pid; error_log ${www}/error.log; events { worker_connections 1024; }
http { access_log off; sendfile on; types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; }
  server { listen 127.0.0.1:${nginxPort}; root ${www}; } }`,
);
const nginx = track(
  spawn('/usr/sbin/nginx', ['-p', www, '-c', join(www, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: 'ignore',
    detached: true,
  }),
);
await sleep(500);

const results = {
  newestSegment: {
    bytes: segBytes.length,
    reader: await wrk(`${base}/360p/${newestSeg}`),
    nginxFromDisk: await wrk(`http://127.0.0.1:${nginxPort}/${newestSeg}`),
  },
  livePlaylist: {
    bytes: Buffer.byteLength(playlistText),
    reader: await wrk(`${base}/360p/index.m3u8`),
    nginxFromDisk: await wrk(`http://127.0.0.1:${nginxPort}/index.m3u8`),
  },
};

// (c) 500 clients hold a blocking reload for the next part; measure their release after the part lands.
const live = await (await fetch(`${base}/360p/index.m3u8`)).text();
const hint = /PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(live)!;
const [msn, part] = [Number(hint[1]), Number(hint[2])];
const fanUrl = `${base}/360p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`;
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
  releaseSpreadAfterFirstMs: summarize(releaseAt.map((t) => t - first)),
  mbSent: Math.round(fan.results.reduce((n, r) => n + r.bytes, 0) / 1e4) / 100,
};

source.kill('SIGINT');
reader.kill('SIGTERM');
nginx.kill('SIGQUIT');
subscription.close();
await events.close();
await node.stop();
await redis.stop();
console.log(
  JSON.stringify(
    {
      bench: 'origin',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: {
        source: '640x360 30 fps RTMP, ladder 360p (x264 veryfast) + AAC, 2 s segments, 200 ms parts',
        loadGenerator: `wrk -t1 -c32 -d${WRK_SECONDS}s, separate process, loopback`,
        readerProcess: 'workers/reader.ts, its own process',
        reference: 'nginx 1.22 serving the same bytes from disk (sendfile)',
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
