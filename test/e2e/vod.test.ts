/**
 * VOD upload and playback (issue #11), real processes: redis-server, BullMQ asset jobs, ffmpeg/ffprobe, a disk
 * cold tier, the reader and Chromium. A fixture file is made by ffmpeg (lavfi) at test time; uploaded to the
 * ingest listener's PUT /vod/{name}, it is packaged by an asset worker with the test ladder, published, read by
 * ffmpeg from start to end, and played by hls.js (master.m3u8) and dash.js (manifest.mpd) in Chromium. A
 * non-media and a truncated upload are refused with a clear reason and leave nothing in the cold tier.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlApi } from '../../src/api/router.js';
import { redisTarget } from '../../src/config.js';
import { startIngestHttp, type IngestHttp } from '../../src/ingest/http/listener.js';
import { vodUploadMount } from '../../src/ingest/http/vod-upload.js';
import { createMetrics } from '../../src/metrics.js';
import { BullAssetJobQueue, startBullAssetWorker } from '../../src/queue/bullmq-assets.js';
import type { AssetJobView, AssetJobWorker } from '../../src/queue/ports.js';
import { type Reader, createReader } from '../../src/reader/reader.js';
import { VodObjects } from '../../src/reader/vod.js';
import { openColdTier } from '../../src/store/cold/registry.js';
import type { ColdTier, Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { VodAssets } from '../../src/vod/assets.js';
import { planHarvest } from '../../src/vod/harvest.js';
import { assetJobHandler } from '../../src/vod/jobs.js';
import { servePlayerPages, watchPlayback, withChromium } from '../support/browser.js';
import { captureLogger, testConfig, waitFor } from '../support/harness.js';
import { decodeErrors, probedDurationSec } from '../support/ffmpeg-read.js';

/** Async: the reader runs in this process, a synchronous child would block it. */

const SOURCE_SEC = 8;
const TOKEN = 'admin-token-0123456789';

let dir: string;
let cold: ColdTier;
let store: Store;
let jobs: BullAssetJobQueue;
let worker: AssetJobWorker;
let reader: Reader;
let ingest: IngestHttp;
let readerBase: string;
let ingestBase: string;
const { log, lines } = captureLogger();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ws-vod-e2e-'));
  // The fixture: 8 s of H.264 + AAC in MP4 (moov at the end, as ffmpeg writes it), made here, never kept in git.
  execFileSync('ffmpeg', [
    ...[
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=640x360:rate=30:duration=${SOURCE_SEC}`,
    ],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${SOURCE_SEC}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', join(dir, 'in.mp4')],
  ]);
  const config = testConfig({ api: { tokens: [{ name: 'ops', token: TOKEN, scope: 'admin' }] } });
  cold = await openColdTier({ type: 'disk', dir: join(dir, 'cold') });
  store = createRedisStore({ target: redisTarget(config), prefix: config.keyPrefix, role: 'command' });
  jobs = new BullAssetJobQueue(redisTarget(config), config.keyPrefix);
  worker = startBullAssetWorker({
    target: redisTarget(config),
    prefix: config.keyPrefix,
    log,
    handler: assetJobHandler({ config, store, cold, log }),
  });
  const assets = new VodAssets(cold);
  reader = createReader({
    store,
    events: store.events,
    metrics: createMetrics(),
    log,
    vod: new VodObjects(assets),
    api: createControlApi({
      tokens: config.api.tokens,
      store,
      events: store.events,
      log,
      historySize: 100,
      assets: { jobs, plan: (r) => planHarvest(store, r), exists: (a) => assets.exists(a) },
    }),
  });
  readerBase = `http://127.0.0.1:${await reader.listen(0, '127.0.0.1')}`;
  ingest = await startIngestHttp({
    host: '127.0.0.1',
    port: 0,
    mounts: [
      vodUploadMount({
        cold,
        assets,
        jobs,
        tokens: config.api.tokens,
        ffmpegPath: 'ffmpeg',
        streams: [],
        maxBytes: 64 * 1024 * 1024,
        log,
      }),
    ],
    fallback: (_req, res) => void res.writeHead(404).end(),
    timeouts: {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 0,
      keepAliveTimeoutMs: 5000,
      idleTimeoutMs: 60_000,
      maxConnections: 0,
    },
    log,
  });
  ingestBase = `http://127.0.0.1:${ingest.port}`;
}, 60_000);

afterAll(async () => {
  await ingest?.close();
  await reader?.close();
  await worker?.close();
  await jobs?.close();
  await store?.close();
  await cold?.close();
  rmSync(dir, { recursive: true, force: true });
});

const upload = (name: string, body: Uint8Array, token = TOKEN): Promise<Response> =>
  fetch(`${ingestBase}/vod/${name}`, {
    method: 'PUT',
    body: Buffer.from(body),
    headers: { Authorization: `Bearer ${token}` },
  });

async function coldKeys(prefix: string): Promise<string[]> {
  return (await cold.list(prefix, 1000)).keys;
}

describe('VOD upload', () => {
  it('refuses a non-media and a truncated upload with the reason, publishing nothing', async () => {
    const junk = await upload('junk', new TextEncoder().encode('this is not a video file\n'.repeat(200)));
    expect(junk.status).toBe(400);
    expect(await junk.text()).toMatch(/^BAD_MEDIA: not a readable media file/);
    const whole = readFileSync(join(dir, 'in.mp4'));
    // The first 60%: ffmpeg writes the index (moov) at the end, so the cut file has none.
    const cut = await upload('cut', whole.subarray(0, Math.floor(whole.length * 0.6)));
    expect(cut.status).toBe(400);
    expect(await cut.text()).toMatch(/^BAD_MEDIA: .*moov atom not found/);
    expect(await coldKeys('vod/')).toEqual([]);
    expect(await coldKeys('uploads/')).toEqual([]);
    expect((await fetch(`${readerBase}/vod/cut/master.m3u8`)).status).toBe(404);
    expect((await upload('x', new Uint8Array(10), 'wrong-token-0123456789')).status).toBe(401);
  });

  it('packages an upload as a job with progress, and ffmpeg reads the asset from start to end', async () => {
    const res = await upload('film', readFileSync(join(dir, 'in.mp4')));
    expect(res.status).toBe(202);
    const { jobUrl } = (await res.json()) as { jobUrl: string };
    const percents: number[] = [];
    const job = await waitFor(
      async () => {
        const r = await fetch(`${readerBase}${jobUrl}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        const v = (await r.json()) as AssetJobView;
        percents.push(v.progress.percent);
        return v.state === 'completed' || v.state === 'failed' ? v : undefined;
      },
      120_000,
      'the packaging job',
    );
    expect(job.error).toBeUndefined();
    expect(job.state).toBe('completed');
    expect(job.result).toMatchObject({ asset: 'film', renditions: ['360p', '240p', 'audio'] });
    expect(
      percents.some((p) => p > 0 && p < 100),
      `progress seen: ${percents.join(',')}`,
    ).toBe(true);
    // The staged upload is consumed.
    expect(await coldKeys('uploads/')).toEqual([]);

    const master = await fetch(`${readerBase}/vod/film/master.m3u8`);
    expect(master.status).toBe(200);
    expect(master.headers.get('cache-control')).toContain('immutable');
    const media = await (await fetch(`${readerBase}/vod/film/360p/index.m3u8`)).text();
    expect(media).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(media).toContain('#EXT-X-ENDLIST');
    // ffmpeg reads every rendition through the reader: no decode error, the whole duration.
    expect(await decodeErrors(`${readerBase}/vod/film/master.m3u8`)).toBe('');
    const probed = await probedDurationSec(`${readerBase}/vod/film/360p/index.m3u8`);
    expect(Math.abs(probed - SOURCE_SEC)).toBeLessThan(1);
    // A second upload under the same name: assets are immutable.
    expect((await upload('film', readFileSync(join(dir, 'in.mp4')))).status).toBe(409);
  }, 180_000);

  it('plays in hls.js (master.m3u8) and dash.js (manifest.mpd) in Chromium', async () => {
    const pages = await servePlayerPages();
    try {
      await withChromium(async (ctx) => {
        for (const [player, file] of [
          ['hls', 'master.m3u8'],
          ['dash', 'manifest.mpd'],
        ] as const) {
          const page = await ctx.newPage();
          await page.goto(
            pages.url('play.html', {
              src: `${readerBase}/vod/film/${file}`,
              player,
              ll: '0',
              time: `${readerBase}/time`,
            }),
          );
          const r = await watchPlayback(page, { startTimeoutMs: 20_000, playSec: 4, until: 'played' });
          expect(r.fatal, `${player} fatal errors`).toEqual([]);
          expect(r.startMs, `${player} started`).not.toBeNull();
          expect(r.played, `${player} seconds played`).toBeGreaterThanOrEqual(4);
          await page.close();
        }
      });
    } finally {
      pages.close();
    }
  }, 120_000);

  it('logs no secret', () => {
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });
});
