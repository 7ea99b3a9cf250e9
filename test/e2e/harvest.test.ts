/**
 * Live-to-VOD harvest (issue #11), real processes: a live RTMP stream through the ingest into redis-server, a
 * harvest of a 10 s range of it as a BullMQ asset job, a disk cold tier. The first worker is stopped mid-way
 * (its handler holds after the first progress report, the worker is closed without waiting: its lock lapses, as
 * when the process dies); a new worker takes the job over and completes it. ffmpeg then reads the VOD asset
 * through the reader from start to end with no decode error, and its duration matches the range within one
 * segment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { BullAssetJobQueue, startBullAssetWorker } from '../../src/queue/bullmq-assets.js';
import type { AssetJobHandler, AssetJobWorker } from '../../src/queue/ports.js';
import { type Reader, createReader } from '../../src/reader/reader.js';
import { VodObjects } from '../../src/reader/vod.js';
import { openColdTier } from '../../src/store/cold/registry.js';
import type { ColdTier } from '../../src/store/ports.js';
import { VodAssets } from '../../src/vod/assets.js';
import { planHarvest } from '../../src/vod/harvest.js';
import { assetJobHandler } from '../../src/vod/jobs.js';
import {
  type Encoder,
  type IngestHarness,
  captureLogger,
  rtmpEncoder,
  startIngest,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { decodeErrors, probedDurationSec } from '../support/ffmpeg-read.js';

/** Async: the reader runs in this process, a synchronous child would block it. */

const RANGE_MS = 10_000;
const SEGMENT_SEC = 1;

let dir: string;
let cold: ColdTier;
let h: IngestHarness;
let enc: Encoder;
let reader: Reader;
let jobs: BullAssetJobQueue;
const workers: AssetJobWorker[] = [];
const { log } = captureLogger();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ws-harvest-e2e-'));
  cold = await openColdTier({ type: 'disk', dir: join(dir, 'cold') });
  h = await startIngest(
    testConfig({
      defaults: {
        segmentSec: SEGMENT_SEC,
        partSec: 0.25,
        windowSec: 6,
        dvrWindowSec: 60,
        ladder: [{ name: '360p', height: 360, videoBitrateK: 500, preset: 'ultrafast' }],
      },
    }),
  );
  enc = rtmpEncoder(h.rtmpUrl('cam'), 40);
  jobs = new BullAssetJobQueue(redisTarget(h.config), h.config.keyPrefix);
  reader = createReader({
    store: h.store,
    events: h.store.events,
    metrics: createMetrics(),
    log,
    vod: new VodObjects(new VodAssets(cold)),
  });
}, 60_000);

afterAll(async () => {
  await enc?.stop();
  for (const w of workers) await w.close().catch(() => undefined);
  await jobs?.close();
  await reader?.close();
  await h?.stop();
  await cold?.close();
  rmSync(dir, { recursive: true, force: true });
});

function worker(handler: AssetJobHandler): AssetJobWorker {
  const w = startBullAssetWorker({
    target: redisTarget(h.config),
    prefix: h.config.keyPrefix,
    log,
    handler,
    // Short lock and stalled check so the takeover happens within seconds.
    lockMs: 2000,
    stalledCheckMs: 1000,
  });
  workers.push(w);
  return w;
}

describe('live-to-VOD harvest', () => {
  it('harvests 10 s of a live stream; a job stopped mid-way completes on a new worker; ffmpeg reads the asset', async () => {
    // Wait for 14 s of complete segments, then harvest the 10 s that end 2 s before the newest.
    const segments = await waitFor(
      async () => {
        const state = await h.store.streams.readState('cam');
        if (state.renditions.length < 2) return undefined;
        const t = await h.store.media.loadTimelines('cam', state, 1000, 0);
        const segs = t.snaps.get('360p')?.segments ?? [];
        return segs.length >= 14 ? segs : undefined;
      },
      60_000,
      '14 segments',
    );
    const startMs = segments[1]!.wallClockMs;
    const endMs = startMs + RANGE_MS;
    const request = { kind: 'harvest' as const, asset: 'clip', stream: 'cam', startMs, endMs };
    const plan = await planHarvest(h.store, request);
    expect(plan.gaps).toEqual([]);

    const real = assetJobHandler({ config: h.config, store: h.store, cold, log });
    let held = false;
    const first = worker(async (spec, ctx) =>
      real(spec, {
        ...ctx,
        // The first attempt stops for good after its first progress report (mid-copy).
        progress: async (p) => {
          if (p.stage === 'copying' && p.percent > 0) {
            held = true;
            await new Promise<never>(() => undefined);
          }
          await ctx.progress(p);
        },
      }),
    );
    const { view } = await jobs.submit(request);
    await waitFor(() => held, 30_000, 'the first attempt mid-way');
    // Some of the asset is written, nothing is published.
    expect((await cold.list('vod/clip/', 1000)).keys.length).toBeGreaterThan(0);
    expect(await new VodAssets(cold).exists('clip')).toBe(false);
    await first.close(true);
    worker(real);
    const done = await waitFor(
      async () => {
        const v = await jobs.get(view.id);
        return v && (v.state === 'completed' || v.state === 'failed') ? v : undefined;
      },
      60_000,
      'the job to finish on the second worker',
    );
    expect(done.error).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.result).toMatchObject({ asset: 'clip', gaps: [], discontinuities: 0 });

    const base = `http://127.0.0.1:${await reader.listen(0, '127.0.0.1')}`;
    const media = await (await fetch(`${base}/vod/clip/360p/index.m3u8`)).text();
    expect(media).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(await decodeErrors(`${base}/vod/clip/master.m3u8`)).toBe('');
    const durationSec = await probedDurationSec(`${base}/vod/clip/360p/index.m3u8`);
    expect(Math.abs(durationSec - RANGE_MS / 1000)).toBeLessThanOrEqual(SEGMENT_SEC);
  }, 150_000);
});
