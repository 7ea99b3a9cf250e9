/**
 * bench:cold (issue #11): the cold tier's write lag behind the live edge, per tier kind, in one run.
 * The archiver (src/store/cold/archiver.ts, with the config's default queue settings) is fed complete segments at
 * the live rate of BENCH_STREAMS streams (a 3-rendition ladder's segment sizes, one segment per rendition every
 * BENCH_SEGMENT_SEC), as the ingest's ArchivingMediaStore does after each hot write; the lag is the archiver's own
 * measure: enqueue (the hot write) -> bytes in the tier and the record in the SegmentArchive (memory).
 * Tiers: memory (the reference: the archiver's own cost), disk (a temp dir), s3 (s3rver in a child process on
 * loopback, tools/process/s3-server.ts).
 * Not measured here (open): reader throughput on a cold-tier segment against nginx.
 * Env: BENCH_SECONDS (per tier, default 30), BENCH_STREAMS (default 4), BENCH_SEGMENT_SEC (default 2).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../src/config.js';
import { ColdArchiver } from '../src/store/cold/archiver.js';
import { openColdTier } from '../src/store/cold/registry.js';
import type { ColdTierSettings } from '../src/store/cold/types.js';
import { MemorySegmentArchive } from '../src/store/memory/archive.js';
import { startS3Server } from '../tools/process/s3-server.js';
import { summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
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

const dir = mkdtempSync(join(tmpdir(), 'wellspring-bench-cold-'));
const s3 = await startS3Server();
try {
  const load = loadavg()[0];
  const results = [];
  results.push(await measure({ type: 'memory' }));
  results.push(await measure({ type: 'disk', dir }));
  results.push(
    await measure({
      type: 's3',
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    }),
  );
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
        notMeasured: 'reader throughput on a cold-tier segment vs nginx',
      },
      null,
      2,
    ),
  );
} finally {
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
}
