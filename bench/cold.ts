/**
 * bench:cold (issue #11): the cold tier's write lag behind the live edge, per tier kind, in one run.
 * The archiver (src/store/cold/archiver.ts, with the config's default queue settings) is fed complete segments at
 * the live rate of BENCH_STREAMS streams (a 3-rendition ladder's segment sizes, one segment per rendition every
 * BENCH_SEGMENT_SEC), as the ingest's ArchivingMediaStore does after each hot write; the lag is the archiver's own
 * measure: enqueue (the hot write) -> bytes in the tier and the record in the SegmentArchive (memory).
 * Tiers: memory (the reference: the archiver's own cost), disk (a temp dir), s3 (s3rver in a child process on
 * loopback, tools/process/s3-server.ts).
 *
 * Then the read side, with its reference in the same run: a reader (workers/reader.ts, its own process, a disk
 * cold tier) serving one 720p segment that only the cold tier holds (never written to Redis) vs nginx serving the
 * same bytes from disk (bench/lib/reference.ts, the reference bench:origin uses), both under wrk on loopback:
 * - `readerColdUncached`: the reader's caches off (reader.mediaCacheBytes 0, cold.cacheBytes 0, no promotion), so
 *   every request reads the file from the cold tier, as nginx does;
 * - `readerColdDefaults`: the default caches and promotion: the first reads come from disk, then from memory.
 * Env: BENCH_SECONDS (per tier, default 30), BENCH_STREAMS (default 4), BENCH_SEGMENT_SEC (default 2),
 * BENCH_READ_SECONDS (per wrk run, default 10; 0 skips the read side), BENCH_WRITE_SECONDS=0 skips the write side.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { track } from '../src/adapters/process/children.js';
import { parseConfig } from '../src/config.js';
import { coldKey } from '../src/core/index.js';
import { ColdArchiver } from '../src/store/cold/archiver.js';
import { openColdTier } from '../src/store/cold/registry.js';
import type { ColdTierSettings } from '../src/store/cold/types.js';
import { MemorySegmentArchive } from '../src/store/memory/archive.js';
import { freePort } from '../tools/process/net.js';
import { startRedisServer } from '../tools/process/redis-server.js';
import { s3ColdSettings, startS3Server } from '../tools/process/s3-server.js';
import { ensureWrk, startNginxReference, throughputRatio, wrk } from './lib/reference.js';
import { summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_WRITE_SECONDS ?? process.env.BENCH_SECONDS ?? 30);
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 10);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 4);
const SEGMENT_SEC = Number(process.env.BENCH_SEGMENT_SEC ?? 2);
/** Segment bytes per rendition: 720p at 3 Mbit/s, 360p at 800 kbit/s, audio at 128 kbit/s. */
const LADDER = [
  { name: '720p', bytes: Math.round((3_000_000 / 8) * SEGMENT_SEC) },
  { name: '360p', bytes: Math.round((800_000 / 8) * SEGMENT_SEC) },
  { name: 'audio', bytes: Math.round((128_000 / 8) * SEGMENT_SEC) },
];
const queue = parseConfig({}).cold.queue;
const log = pino({ level: 'warn' });

async function measure(settings: ColdTierSettings): Promise<Record<string, unknown>> {
  const tier = await openColdTier(settings);
  const lags: number[] = [];
  const archiver = new ColdArchiver({
    tier,
    archive: new MemorySegmentArchive(),
    log,
    ...queue,
    metrics: { writeLag: { observe: (sec: number) => void lags.push(sec * 1000) } },
  });
  const payloads = LADDER.map((r) => randomBytes(r.bytes));
  for (let s = 0; s < STREAMS; s++) {
    LADDER.forEach((r) => archiver.enqueueInit(`bench${s}`, r.name, 0, randomBytes(1200)));
  }
  const t0 = Date.now();
  let msn = 0;
  const cpu0 = process.cpuUsage();
  while (Date.now() - t0 < SECONDS * 1000) {
    const wall = Date.now();
    for (let s = 0; s < STREAMS; s++) {
      LADDER.forEach((r, i) =>
        archiver.enqueueSegment(
          `bench${s}`,
          r.name,
          {
            msn,
            discontinuitySeq: 0,
            discontinuity: false,
            initId: 0,
            startTicks: msn * SEGMENT_SEC * 90_000,
            durationTicks: SEGMENT_SEC * 90_000,
            independent: true,
            byteLength: r.bytes,
            wallClockMs: wall,
            periodStartTicks: 0,
            periodWallClockMs: t0,
          },
          payloads[i]!,
        ),
      );
    }
    msn++;
    await new Promise((r) => setTimeout(r, SEGMENT_SEC * 1000 - ((Date.now() - t0) % (SEGMENT_SEC * 1000))));
  }
  await archiver.idle();
  const cpu = process.cpuUsage(cpu0);
  await archiver.close();
  await tier.close();
  return {
    kind: settings.type,
    segments: msn * STREAMS * LADDER.length,
    writeLagMs: summarize(lags),
    dropped: archiver.stats.dropped,
    failed: archiver.stats.failed,
    benchProcessCpuSec: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
  };
}

/**
 * The read side: one segment only in a disk cold tier, served by a reader process (uncached, then with the
 * default caches) and by nginx from disk, each under wrk for READ_SECONDS.
 */
async function readSide(): Promise<Record<string, unknown>> {
  ensureWrk();
  const root = mkdtempSync(join(tmpdir(), 'wellspring-bench-coldread-'));
  const redis = await startRedisServer();
  const stops: Array<() => Promise<void>> = [];
  try {
    const [stream, rendition, file] = ['coldbench', '720p', 'seg-7.m4s'];
    const bytes = randomBytes(LADDER[0]!.bytes);
    const tier = await openColdTier({ type: 'disk', dir: join(root, 'cold') });
    await tier.put(coldKey.live(stream, rendition, file), bytes, 'video/iso.segment');
    await tier.close();

    const startReader = async (
      name: string,
      extra: Record<string, unknown>,
    ): Promise<{ url: string; pid: number }> => {
      const port = await freePort();
      const cfg = join(root, `${name}.json`);
      writeFileSync(
        cfg,
        JSON.stringify({
          redisUrl: redis.url,
          logLevel: 'error',
          http: { host: '127.0.0.1', port },
          ...extra,
          cold: { type: 'disk', dir: join(root, 'cold'), ...(extra.cold as object) },
        }),
      );
      const child = track(
        spawn(process.execPath, ['--import', 'tsx', 'workers/reader.ts'], {
          env: { ...process.env, WELLSPRING_CONFIG: cfg },
          stdio: 'ignore',
          detached: true,
        }),
      );
      stops.push(async () => {
        if (child.exitCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      });
      const url = `http://127.0.0.1:${port}/live/${stream}/${rendition}/${file}`;
      for (let i = 0; ; i++) {
        const r = await fetch(url).catch(() => undefined);
        if (r) {
          const got = Buffer.from(await r.arrayBuffer());
          if (r.status !== 200 || !got.equals(bytes))
            throw new Error(`${name}: the cold segment answered ${r.status} with ${got.length} bytes`);
          break;
        }
        if (i > 150 || child.exitCode !== null) throw new Error(`${name}: the reader did not start`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return { url, pid: child.pid! };
    };
    const uncached = await startReader('uncached', {
      reader: { mediaCacheBytes: 0 },
      cold: { cacheBytes: 0, promotion: { after: 0 } },
    });
    const defaults = await startReader('defaults', {});
    const nginx = await startNginxReference({ [file]: bytes });
    stops.push(() => nginx.stop());
    const load0 = loadavg()[0]!;
    const readerColdUncached = await wrk(uncached.url, { seconds: READ_SECONDS, pid: uncached.pid });
    const readerColdDefaults = await wrk(defaults.url, { seconds: READ_SECONDS, pid: defaults.pid });
    const nginxFromDisk = await wrk(`${nginx.base}/${file}`, { seconds: READ_SECONDS, pid: nginx.pid });
    const load1 = loadavg()[0]!;
    return {
      segmentBytes: bytes.length,
      loadAverage1m: { before: round2(load0), after: round2(load1) },
      loadGenerator: `wrk -t1 -c32 -d${READ_SECONDS}s, separate process, loopback`,
      readerColdUncached,
      readerColdDefaults,
      nginxFromDisk,
      uncachedToNginx: throughputRatio(readerColdUncached, nginxFromDisk),
      defaultsToNginx: throughputRatio(readerColdDefaults, nginxFromDisk),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

const dir = mkdtempSync(join(tmpdir(), 'wellspring-bench-cold-'));
const s3 = SECONDS > 0 ? await startS3Server() : undefined;
try {
  const load = loadavg()[0];
  const results = [];
  if (s3) {
    results.push(await measure({ type: 'memory' }));
    results.push(await measure({ type: 'disk', dir }));
    results.push(await measure({ type: 's3', ...s3ColdSettings(s3) }));
  }
  const read = READ_SECONDS > 0 ? await readSide() : undefined;
  console.log(
    JSON.stringify(
      {
        benchmark: 'cold',
        config: {
          secondsPerTier: SECONDS,
          streams: STREAMS,
          segmentSec: SEGMENT_SEC,
          ladder: LADDER,
          queue,
          s3Server: 's3rver 3.7 (child process, loopback, path-style)',
          writeLag: 'enqueue (hot write) -> bytes in the tier + record in the archive, from the archiver',
          reference: 'memory tier: the archiver alone',
          loadAverage1m: load,
        },
        results,
        coldSegmentRead: read ?? 'skipped (BENCH_READ_SECONDS=0)',
      },
      null,
      2,
    ),
  );
} finally {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
}
