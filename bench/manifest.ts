/**
 * npm run bench:manifest — what the manifest job costs per part, for 3 and 10 renditions, over the in-memory store
 * and over Redis. Media is published the way the ingest publishes it (every rendition's part, then a manifest job;
 * every 10th part completes the segment), and each job is one ManifestRenderer.render, timed in this process:
 * CPU time (process.cpuUsage, this process: rendering plus the Redis client's work) and wall time, p50/p95/p99;
 * over Redis the server's own CPU per job is added from /proc. It also counts the files each job stored and
 * skipped, split into part jobs and segment jobs, to show that only the manifests a change touched are rendered.
 *
 * Env: BENCH_PARTS (jobs per case, default 300), BENCH_DVR_SEC (DVR window, default 3600).
 */
import os from 'node:os';
import { type RenditionDescription, manifestName, retention } from '../src/core/index.js';
import { ManifestRenderer } from '../src/manifest/renderer.js';
import type { Store, StoredStreamSettings } from '../src/store/ports.js';
import { MemoryStore } from '../src/store/memory/index.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { startRedisServer } from '../tools/process/redis-server.js';
import { cpuSeconds } from '../tools/load/observe.js';
import { StoreFeed } from '../test/support/scenario.js';
import { summarize } from './stats.js';

const PARTS = Number(process.env.BENCH_PARTS ?? 300);
const DVR_SEC = Number(process.env.BENCH_DVR_SEC ?? 3600);
const PARTS_PER_SEGMENT = 10;
const T0 = Date.now();
const STREAM = 'bench';
const settings: StoredStreamSettings = { segmentSec: 2, partSec: 0.2, windowSec: 12, dvrWindowSec: DVR_SEC };

function ladder(n: number): RenditionDescription[] {
  const heights = [1080, 720, 540, 480, 432, 360, 288, 240, 180];
  const out: RenditionDescription[] = [];
  for (let i = 0; i < n - 1; i++) {
    const h = heights[i % heights.length]!;
    out.push({
      name: `v${i}-${h}p`,
      kind: 'video',
      codec: 'avc1.64001f',
      timescale: 90000,
      width: Math.round((h * 16) / 9 / 2) * 2,
      height: h,
      frameRate: 30,
      nominalBitrate: 300_000 + h * 3000,
      segmentTargetTicks: 2 * 90000,
      partTargetTicks: 90000 / 5,
      order: i,
    });
  }
  out.push({
    name: 'audio',
    kind: 'audio',
    codec: 'mp4a.40.2',
    timescale: 48000,
    sampleRate: 48000,
    channelCount: 2,
    nominalBitrate: 128_000,
    segmentTargetTicks: 2 * 48000,
    partTargetTicks: 48000 / 5,
    order: n - 1,
  });
  return out;
}

interface Case {
  renditions: number;
  store: 'memory' | 'redis';
}

async function runCase(c: Case, store: Store, redisPid?: number): Promise<Record<string, unknown>> {
  const rs = ladder(c.renditions);
  await store.streams.mark(STREAM, settings, 'live', T0);
  const feeds = rs.map(
    (r) =>
      new StoreFeed(store.media, STREAM, r, {
        settings,
        wallClockStartMs: T0,
        partsPerSegment: PARTS_PER_SEGMENT,
      }),
  );
  for (const f of feeds) await f.init();
  const renderer = new ManifestRenderer(store, {
    utcTimingUrl: '/time',
    targetLatencyMs: 1500,
    manifestTtlSec: 3600,
  });
  // Warm-up: a full window of segments (and the JIT).
  const warm = Math.ceil(settings.windowSec / settings.segmentSec) + 2;
  for (let msn = 0; msn < warm; msn++) {
    for (const f of feeds) await f.segment(msn);
    await renderer.render(STREAM, T0 + (msn + 1) * 2000);
  }
  const cpuMs: Record<'part' | 'segment', number[]> = { part: [], segment: [] };
  const wallMs: number[] = [];
  const redisCpuMs: number[] = [];
  const stored: Record<'part' | 'segment', number[]> = { part: [], segment: [] };
  const skipped: Record<'part' | 'segment', number[]> = { part: [], segment: [] };
  const renderedBytes: number[] = [];
  let msn = warm;
  let part = 0;
  for (let job = 0; job < PARTS; job++) {
    const kind: 'part' | 'segment' = part === PARTS_PER_SEGMENT - 1 ? 'segment' : 'part';
    for (const f of feeds) {
      if (kind === 'segment') await f.segment(msn);
      else await f.part(msn);
    }
    const nowMs = T0 + msn * 2000 + (part + 1) * 200;
    const r0 = redisPid ? cpuSeconds(redisPid) : 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const res = (await renderer.render(STREAM, nowMs))!;
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    if (redisPid) redisCpuMs.push((cpuSeconds(redisPid) - r0) * 1000);
    cpuMs[kind].push((c1.user + c1.system) / 1000);
    wallMs.push(t1 - t0);
    stored[kind].push(res.stored);
    skipped[kind].push(res.skipped);
    if (kind === 'segment') {
      msn++;
      part = 0;
    } else part++;
  }
  // The size of what a part job stores (each rendition's LL playlist and its delta-update form).
  for (const r of rs)
    for (const n of [manifestName.media(r.name), manifestName.mediaSkip(r.name)])
      renderedBytes.push(Buffer.byteLength((await store.manifests.read(STREAM, n))?.body ?? ''));
  const dvrBytes = Buffer.byteLength(
    (await store.manifests.read(STREAM, manifestName.dvr(rs[0]!.name)))?.body ?? '',
  );
  const mean = (a: number[]): number =>
    Math.round((a.reduce((x, y) => x + y, 0) / (a.length || 1)) * 10) / 10;
  const filesPerStream = 3 + 3 * rs.length; // multivariant, 2 MPDs; per rendition LL, skip, DVR
  return {
    renditions: c.renditions,
    store: c.store,
    jobs: PARTS,
    cpuMsPerJob: { part: summarize(cpuMs.part), segment: summarize(cpuMs.segment) },
    wallMsPerJob: summarize(wallMs),
    ...(redisPid
      ? {
          redisServerCpuMsPerJob: {
            mean: mean(redisCpuMs),
            note: 'from /proc, 10 ms ticks: the mean over many jobs is meaningful, single values are not',
          },
        }
      : {}),
    filesPerJob: {
      everyFile: filesPerStream,
      partJob: { storedMean: mean(stored.part), skippedMean: mean(skipped.part) },
      segmentJob: { storedMean: mean(stored.segment), skippedMean: mean(skipped.segment) },
    },
    bytes: {
      llPlaylistsPerPartJob: renderedBytes.reduce((a, b) => a + b, 0),
      oneDvrPlaylistNow: dvrBytes,
    },
  };
}

const cases: Case[] = [
  { renditions: 3, store: 'memory' },
  { renditions: 10, store: 'memory' },
  { renditions: 3, store: 'redis' },
  { renditions: 10, store: 'redis' },
];
const results: Array<Record<string, unknown>> = [];
const load0 = os.loadavg();
for (const c of cases) {
  if (c.store === 'memory') {
    results.push(await runCase(c, new MemoryStore()));
    continue;
  }
  const redis = await startRedisServer();
  const store = createRedisStore({
    target: { kind: 'standalone', url: redis.url },
    prefix: 'bench',
    role: 'command',
  });
  try {
    results.push(await runCase(c, store, redis.pid));
  } finally {
    await store.close();
    await redis.stop();
  }
}
console.log(
  JSON.stringify(
    {
      bench: 'manifest',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      loadAverage: {
        start: load0.map((l) => Math.round(l * 100) / 100),
        end: os.loadavg().map((l) => Math.round(l * 100) / 100),
      },
      config: {
        segmentSec: settings.segmentSec,
        partSec: settings.partSec,
        windowSec: settings.windowSec,
        dvrWindowSec: settings.dvrWindowSec,
        ladders:
          'N-1 video renditions + 1 audio; each job follows one part of every rendition (every 10th: the segment)',
        timing:
          'ManifestRenderer.render in this process; CPU = process.cpuUsage delta (includes the Redis client)',
        retention: retention(settings).segmentsKept,
      },
      results,
    },
    null,
    2,
  ),
);
process.exit(0);
