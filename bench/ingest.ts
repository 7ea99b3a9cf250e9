/**
 * npm run bench:ingest — the default ladder (720p/480p/360p + AAC) transcoded from a 720p30 RTMP source:
 * ffmpeg speed, dropped frames and CPU, and the delay from a part or segment being complete in the ingest
 * (its last chunk read from ffmpeg's pipe) to its bytes and timeline entry being in Redis. Prints JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { startRedisServer } from '../tools/process/redis-server.js';
import { testSourceArgs } from '../tools/source/test-source.js';
import { parseConfig, redisTarget } from '../src/config.js';
import { IngestService } from '../src/ingest/ingest-service.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { BullRenderQueue } from '../src/queue/bullmq.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

const redis = await startRedisServer();
const config = parseConfig({ redisUrl: redis.url, rtmp: { host: '127.0.0.1', port: 0 }, logLevel: 'error' });
const log = createLogger('error', 'bench', 2);
const metrics = createMetrics();
const store = createRedisStore({ target: redisTarget(config), prefix: config.keyPrefix, role: 'ingest' });
const queue = new BullRenderQueue(redisTarget(config), config.keyPrefix);
const delays: Record<string, number[]> = { part: [], segment: [] };
const ingest = new IngestService(config, {
  store,
  queue,
  metrics,
  log,
  onPublished: (_s, op, ms) => {
    if (op.kind === 'part' || op.kind === 'segment') delays[op.kind]!.push(ms);
  },
});
await ingest.start();

const source: ChildProcess = spawn(
  'ffmpeg',
  testSourceArgs({ url: `rtmp://127.0.0.1:${ingest.rtmpPort}/live/bench`, durationSec: SECONDS + 10 }),
  { stdio: 'ignore' },
);
// Warm up, then measure a steady window.
await new Promise((r) => setTimeout(r, 5000));
const session = ingest.sessions.get('bench');
if (!session?.transcoderPid) throw new Error('transcoder did not start');
const pid = session.transcoderPid;
for (const k of Object.keys(delays)) delays[k] = [];
const speeds: number[] = [];
const t0 = performance.now();
const c0 = cpuTicks(pid);
const n0 = process.cpuUsage();
const timer = setInterval(async () => {
  const m = (await metrics.ffmpegSpeed.get()).values[0];
  if (m) speeds.push(m.value);
}, 1000);
await new Promise((r) => setTimeout(r, SECONDS * 1000));
clearInterval(timer);
const wallSec = (performance.now() - t0) / 1000;
const ffmpegCpu = (cpuTicks(pid) - c0) / CLK_TCK / wallSec;
const n1 = process.cpuUsage(n0);
const dropped = (await metrics.ffmpegDropped.get()).values[0]?.value ?? 0;
source.kill('SIGINT');
await ingest.stop();
await queue.close();
await store.close();
await redis.stop();

console.log(
  JSON.stringify(
    {
      bench: 'ingest',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: {
        seconds: SECONDS,
        source:
          '1280x720 30 fps testsrc2 + clock, x264 ultrafast zerolatency 4 Mbit/s, AAC, RTMP over loopback',
        ladder:
          config.defaults.ladder ??
          '720p 2500k / 480p 1200k / 360p 700k (x264 veryfast zerolatency, 1 thread per rung, 1 decoder thread) + AAC 128k',
        segmentSec: config.defaults.segmentSec,
        partSec: config.defaults.partSec,
      },
      ffmpeg: {
        speed: summarize(speeds),
        cpuCores: Math.round(ffmpegCpu * 1000) / 1000,
        cpuPercentOfMachine: Math.round((ffmpegCpu / os.cpus().length) * 1000) / 10,
        droppedFrames: dropped,
      },
      ingestNodeCpuCores: Math.round(((n1.user + n1.system) / 1e6 / wallSec) * 1000) / 1000,
      publishDelayMs: { part: summarize(delays.part!), segment: summarize(delays.segment!) },
    },
    null,
    2,
  ),
);
process.exit(0);
