/**
 * DVR from the tiers, end to end (issue #11): a live stream published over RTMP by ffmpeg, transcoded, written
 * to Redis and, behind the live path, to a disk cold tier with its SegmentArchive records (ArchivingMediaStore +
 * ColdArchiver); the reader reads hot then cold (TieredMediaStore). The test then makes the older segments leave
 * Redis as their TTLs would (objects deleted, the live timeline trimmed to its newest 4 entries, with redis-cli): dvr.m3u8 still lists them (from the archive), with the same sequence numbers and PDTs as before, and
 * every listed segment answers 200 with the bytes the hot tier served. A catch-up URL over the evicted range is
 * read back with m3u8-parser and ends with EXT-X-ENDLIST.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Parser } from 'm3u8-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/config.js';
import { liveColdKey } from '../../src/core/index.js';
import { IngestService } from '../../src/ingest/ingest-service.js';
import { createMetrics } from '../../src/metrics.js';
import { BullRenderQueue } from '../../src/queue/bullmq.js';
import { createReader } from '../../src/reader/reader.js';
import { ColdArchiver } from '../../src/store/cold/archiver.js';
import { ArchivingMediaStore } from '../../src/store/cold/archiving-media.js';
import { DiskColdTier } from '../../src/store/cold/disk/index.js';
import type { Store } from '../../src/store/ports.js';
import { StreamKeys, createRedisStore } from '../../src/store/redis/index.js';
import { TieredMediaStore } from '../../src/store/tiered/index.js';
import { captureLogger, type Encoder, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';

const S = 'dvr';
const R = '360p';
const config = testConfig({
  defaults: {
    segmentSec: 1,
    partSec: 0.25,
    windowSec: 6,
    dvrWindowSec: 120,
    ladder: [{ name: R, height: 360, videoBitrateK: 500, preset: 'ultrafast' }],
  },
});

let dir: string;
let cold: DiskColdTier;
let archiver: ColdArchiver;
let ingestStore: Store;
let readerStore: Store;
let queue: BullRenderQueue;
let ingest: IngestService;
let server: Server;
let base: string;
let enc: Encoder | undefined;
/** A command straight to the test's redis-server (redis-cli: only the store talks to Redis through ioredis). */
const redisCli = async (...args: string[]): Promise<string> =>
  (await promisify(execFile)('redis-cli', ['-u', config.redisUrl, ...args])).stdout.trim();

interface M3u8 {
  mediaSequence: number;
  endList?: boolean;
  segments: Array<{ uri: string; duration: number; programDateTime?: number }>;
}
const parse = (text: string): M3u8 => {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as M3u8;
};

async function get(path: string): Promise<{ status: number; bytes: Buffer }> {
  const r = await fetch(`${base}/live/${S}/${path}`);
  return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
}

beforeAll(async () => {
  const { log } = captureLogger();
  dir = await mkdtemp(join(tmpdir(), 'ws-dvr-'));
  cold = new DiskColdTier(dir);
  const target = redisTarget(config);
  ingestStore = createRedisStore({ target, prefix: config.keyPrefix, role: 'ingest' });
  readerStore = createRedisStore({ target, prefix: config.keyPrefix, role: 'reader', subscribe: true });
  archiver = new ColdArchiver({
    tier: cold,
    archive: ingestStore.archive,
    log,
    maxItems: 10_000,
    maxBytes: 512 * 1024 * 1024,
    concurrency: 2,
    retryBaseMs: 100,
    retryMaxMs: 2000,
    maxAttempts: 5,
  });
  queue = new BullRenderQueue(target, config.keyPrefix);
  ingest = new IngestService(config, {
    store: { ...ingestStore, media: new ArchivingMediaStore(ingestStore.media, archiver) },
    queue,
    metrics: createMetrics(),
    log,
  });
  await ingest.start();
  const reader = createReader({
    store: {
      media: new TieredMediaStore({
        hot: readerStore.media,
        cold,
        log,
        cacheBytes: 16 * 1024 * 1024,
        promoteAfter: 0,
        promoteWindowMs: 60_000,
        promoteTtlSec: 60,
        missTtlMs: 0,
      }),
      manifests: readerStore.manifests,
      streams: readerStore.streams,
      health: readerStore.health,
      archive: readerStore.archive,
    },
    events: readerStore.events,
    metrics: createMetrics(),
    log,
  });
  server = createServer(reader.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await enc?.stop();
  await ingest?.stop();
  await archiver?.close();
  await queue?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await ingestStore?.close();
  await readerStore?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('DVR window served from the archive and the cold tier', () => {
  it('lists segments that left Redis and serves each with the bytes the hot tier had', async () => {
    enc = rtmpEncoder(`rtmp://127.0.0.1:${ingest.rtmpPort}/${config.rtmp.app}/${S}`, 40);
    // At least 14 complete segments archived (bytes in the cold tier, then the record).
    await waitFor(
      async () => (await ingestStore.archive.range(S, R, -Infinity, Infinity, 1000)).length >= 14,
      60_000,
      '14 archived segments',
    );
    const before = parse((await get(`${R}/dvr.m3u8`)).bytes.toString());
    expect(before.segments.length).toBeGreaterThanOrEqual(14);
    const hot = new Map<string, Buffer>();
    for (const s of before.segments) {
      const r = await get(`${R}/${s.uri}`);
      expect(r.status).toBe(200);
      hot.set(s.uri, r.bytes);
    }

    // The older segments leave Redis, as their TTLs would make them: objects gone, timeline trimmed.
    const k = new StreamKeys(config.keyPrefix, S);
    await redisCli('LTRIM', k.segments(R), '-4', '-1');
    const evicted = before.segments.slice(0, before.segments.length - 6);
    for (const s of evicted) await redisCli('DEL', k.object(R, s.uri));
    expect(await redisCli('EXISTS', k.object(R, evicted[0]!.uri))).toBe('0');

    // dvr.m3u8 (after the reader's next refresh) still lists them, numbered and timed as before.
    let after!: M3u8;
    await waitFor(async () => {
      after = parse((await get(`${R}/dvr.m3u8`)).bytes.toString());
      return after.segments.length > before.segments.length;
    }, 20_000);
    expect(after.mediaSequence).toBe(before.mediaSequence);
    before.segments.forEach((s, i) => {
      expect(after.segments[i]!.uri).toBe(s.uri);
      expect(after.segments[i]!.duration).toBe(s.duration);
      expect(after.segments[i]!.programDateTime).toBe(s.programDateTime);
    });
    // Every listed segment answers 200: the evicted ones from the cold tier, with the hot tier's bytes.
    for (const s of after.segments) {
      const r = await get(`${R}/${s.uri}`);
      expect(r.status, s.uri).toBe(200);
      if (hot.has(s.uri)) expect(r.bytes.equals(hot.get(s.uri)!), s.uri).toBe(true);
    }
    for (const s of evicted) {
      const c = await cold.get(liveColdKey(S, R, s.uri));
      expect(c?.bytes.equals(hot.get(s.uri)!)).toBe(true);
    }

    // A catch-up over the evicted range: exactly those segments, then ENDLIST.
    const start = new Date(evicted[1]!.programDateTime!).toISOString();
    const end = new Date(evicted[evicted.length - 1]!.programDateTime!).toISOString();
    const r = await get(`${R}/index.m3u8?start=${start}&end=${end}`);
    expect(r.status).toBe(200);
    const c = parse(r.bytes.toString());
    expect(c.endList).toBe(true);
    expect(c.segments.map((s) => s.uri)).toEqual(evicted.slice(1, -1).map((s) => s.uri));
    expect(c.segments.map((s) => s.programDateTime)).toEqual(
      evicted.slice(1, -1).map((s) => s.programDateTime),
    );
  });
});
