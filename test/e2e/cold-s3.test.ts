/**
 * The S3 cold tier (issue #11) against a real S3-API server (s3rver in a child process, tools/process/s3-server.ts).
 * First the server itself: the AWS SDK v3 calls the cold tier relies on (PutObject, GetObject with Range,
 * HeadObject, ListObjectsV2 with pagination, DeleteObjects, path-style) work against it, and its data survives
 * a stop/start. What this server does not prove is in the README ("S3 cold tier").
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { openColdTier } from '../../src/store/cold/registry.js';
import type { S3ColdSettings } from '../../src/store/cold/types.js';
import { ColdTierUnavailableError } from '../../src/store/errors.js';
import { StreamKeys } from '../../src/store/redis/index.js';
import { type S3Server, s3ColdSettings, startS3Server } from '../../tools/process/s3-server.js';
import { startNode } from '../../workers/compose.js';
import { captureLogger, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';

/** A command straight to the test's redis-server (only the store talks to Redis through ioredis). */
const redisCli = async (url: string, ...args: string[]): Promise<string> =>
  (await promisify(execFile)('redis-cli', ['-u', url, ...args])).stdout.trim();

let s3: S3Server;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  if (process.env.S3_DEBUG) console.log(s3?.output());
  client?.destroy();
  await s3?.close();
});

const settings = (): S3ColdSettings => ({ ...s3ColdSettings(s3), prefix: 'adapter' });

const body = async (r: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> =>
  Buffer.from(await r.Body!.transformToByteArray());

describe('s3rver as the S3 API the cold tier uses', () => {
  it('puts, gets whole and by range, heads, lists in pages and deletes many', async () => {
    const bytes = randomBytes(64 * 1024);
    const keys = Array.from({ length: 5 }, (_, i) => `live/cam/360p/seg-${i}.m4s`);
    for (const Key of keys) {
      await client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key, Body: bytes, ContentType: 'video/iso.segment' }),
      );
    }
    const whole = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keys[0] }));
    expect((await body(whole)).equals(bytes)).toBe(true);
    // S3's ETag of a single-part PUT is the MD5 of the bytes, quoted.
    expect(whole.ETag).toBe(`"${createHash('md5').update(bytes).digest('hex')}"`);

    const part = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: keys[0], Range: 'bytes=1000-1999' }),
    );
    expect(part.ContentRange).toBe(`bytes 1000-1999/${bytes.length}`);
    expect((await body(part)).equals(bytes.subarray(1000, 2000))).toBe(true);

    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keys[1] }));
    expect(head.ContentLength).toBe(bytes.length);
    expect(head.ContentType).toBe('video/iso.segment');

    const page1 = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'live/cam/', MaxKeys: 3 }),
    );
    expect(page1.Contents?.map((c) => c.Key)).toEqual([...keys].sort().slice(0, 3));
    expect(page1.IsTruncated).toBe(true);
    const page2 = await client.send(
      new ListObjectsV2Command({
        Bucket: s3.bucket,
        Prefix: 'live/cam/',
        MaxKeys: 3,
        StartAfter: page1.Contents!.at(-1)!.Key,
      }),
    );
    expect(page2.Contents?.map((c) => c.Key)).toEqual([...keys].sort().slice(3));
    expect(page2.IsTruncated).toBe(false);

    const del = await client.send(
      new DeleteObjectsCommand({
        Bucket: s3.bucket,
        Delete: { Objects: [...keys.slice(0, 3), 'live/cam/360p/never.m4s'].map((Key) => ({ Key })) },
      }),
    );
    expect(del.Errors ?? []).toEqual([]);
    const after = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'live/cam/' }));
    expect(after.Contents?.map((c) => c.Key)).toEqual(keys.slice(3));
    await expect(
      client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keys[0] })),
    ).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('refuses connections while stopped and serves the same objects after a restart on the same port', async () => {
    const Key = 'live/cam/360p/restart.m4s';
    const bytes = randomBytes(4096);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: bytes }));
    await s3.stop();
    try {
      expect(s3.pid()).toBe(-1);
      // Refused, or (a pooled keep-alive socket the kill reset) hung up: either way no answer.
      const err = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key })).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code ?? err?.message).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
    } finally {
      await s3.start();
    }
    const back = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
    expect((await body(back)).equals(bytes)).toBe(true);
  });
});

describe('the S3 cold tier adapter (src/store/cold/s3) on s3rver', () => {
  it('implements the ColdTier port: put, get whole and by range, head, list after a key, delete many', async () => {
    const tier = await openColdTier({ type: 's3', ...settings() });
    try {
      const bytes = randomBytes(100_000);
      const keys = Array.from({ length: 5 }, (_, i) => `live/cam/360p/seg-${10 + i}.m4s`);
      for (const k of keys) await tier.put(k, bytes, 'video/iso.segment');
      const whole = await tier.get(keys[0]!);
      expect(whole!.bytes.equals(bytes)).toBe(true);
      expect(whole!.meta).toMatchObject({ byteLength: bytes.length, contentType: 'video/iso.segment' });
      const part = await tier.get(keys[0]!, { start: 99_000, end: 99_999 });
      expect(part!.bytes.equals(bytes.subarray(99_000))).toBe(true);
      expect(part!.meta.byteLength).toBe(bytes.length);
      expect(part!.meta.etag).toBe(whole!.meta.etag);
      expect(await tier.head(keys[0]!)).toMatchObject({ byteLength: bytes.length, etag: whole!.meta.etag });
      expect(await tier.get('live/cam/360p/seg-999.m4s')).toBeNull();
      expect(await tier.head('live/cam/360p/seg-999.m4s')).toBeNull();

      const first = await tier.list('live/cam/', 3);
      expect(first).toEqual({ keys: keys.slice(0, 3), more: true });
      expect(await tier.list('live/cam/', 3, first.keys.at(-1))).toEqual({
        keys: keys.slice(3),
        more: false,
      });

      expect(await tier.deleteMany([...keys.slice(0, 4), 'live/cam/360p/never.m4s'])).toBeGreaterThanOrEqual(
        4,
      );
      expect((await tier.list('live/cam/', 10)).keys).toEqual(keys.slice(4));
    } finally {
      await tier.close();
    }
  });

  it('a stopped server is ColdTierUnavailableError (queue and retry), not a missing object; back after a restart', async () => {
    const tier = await openColdTier({ type: 's3', ...settings() });
    let restart = false;
    try {
      const bytes = randomBytes(2048);
      await tier.put('live/cam/360p/init-0.mp4', bytes, 'video/mp4');
      await s3.stop();
      restart = true;
      await expect(tier.put('live/cam/360p/seg-1.m4s', bytes, 'video/iso.segment')).rejects.toBeInstanceOf(
        ColdTierUnavailableError,
      );
      await expect(tier.get('live/cam/360p/init-0.mp4')).rejects.toBeInstanceOf(ColdTierUnavailableError);
      await expect(tier.head('live/cam/360p/init-0.mp4')).rejects.toBeInstanceOf(ColdTierUnavailableError);
      await expect(tier.list('live/', 10)).rejects.toBeInstanceOf(ColdTierUnavailableError);
      await expect(tier.deleteMany(['live/cam/360p/init-0.mp4'])).rejects.toBeInstanceOf(
        ColdTierUnavailableError,
      );
      await s3.start();
      restart = false;
      expect((await tier.get('live/cam/360p/init-0.mp4'))!.bytes.equals(bytes)).toBe(true);
    } finally {
      if (restart) await s3.start();
      await tier.close();
    }
  });
});

describe('a live stream with the S3 cold tier (compose wiring, s3rver)', () => {
  it('segments that left Redis are served from S3 with the bytes, ETag and ranges of the hot copy', async () => {
    const STREAM = 's3cam';
    const KEY = 's3cam-publish-key-0123';
    const R = '360p';
    const { log } = captureLogger();
    const config = testConfig({
      streams: [{ name: STREAM, key: KEY, ingest: { type: 'rtmp' } }],
      cold: {
        type: 's3',
        s3: {
          endpoint: s3.endpoint,
          bucket: s3.bucket,
          region: s3.region,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          forcePathStyle: true,
          prefix: 'pipeline',
        },
        // Every read from cold in this test stays a cold read (no promotion into Redis).
        promotion: { after: 1000 },
        missTtlMs: 0,
      },
    });
    const node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
    const enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${KEY}`, 60);
    const base = `http://127.0.0.1:${node.httpPort}/live/${STREAM}/${R}`;
    const tier = await openColdTier({ type: 's3', ...settings(), prefix: 'pipeline' });
    try {
      // Six segments of the rendition in S3 (and recorded), then read their hot copies at the reader.
      const inCold = async (): Promise<string[]> =>
        (await tier.list(`live/${STREAM}/${R}/seg-`, 100)).keys.map((k) => k.split('/').at(-1)!);
      const names = await waitFor(
        async () => {
          const k = await inCold();
          return k.length >= 6 ? k.slice(0, 6) : undefined;
        },
        60_000,
        'six segments in S3',
      );
      const hot = new Map<string, { bytes: Buffer; etag: string | null; range: Buffer }>();
      for (const n of names) {
        const whole = await fetch(`${base}/${n}`);
        expect(whole.status, n).toBe(200);
        const range = await fetch(`${base}/${n}`, { headers: { range: 'bytes=100-1099' } });
        expect(range.status).toBe(206);
        hot.set(n, {
          bytes: Buffer.from(await whole.arrayBuffer()),
          etag: whole.headers.get('etag'),
          range: Buffer.from(await range.arrayBuffer()),
        });
      }
      // They leave Redis, as their TTL would make them.
      const k = new StreamKeys(config.keyPrefix, STREAM);
      for (const n of names) await redisCli(config.redisUrl, 'DEL', k.object(R, n));
      expect(await redisCli(config.redisUrl, 'EXISTS', k.object(R, names[0]!))).toBe('0');
      for (const n of names) {
        const h = hot.get(n)!;
        const whole = await fetch(`${base}/${n}`);
        expect(whole.status, n).toBe(200);
        expect(Buffer.from(await whole.arrayBuffer()).equals(h.bytes), `${n} bytes`).toBe(true);
        expect(whole.headers.get('etag'), `${n} ETag`).toBe(h.etag);
        const cond = await fetch(`${base}/${n}`, { headers: { 'if-none-match': h.etag! } });
        expect(cond.status, `${n} If-None-Match`).toBe(304);
        const range = await fetch(`${base}/${n}`, { headers: { range: 'bytes=100-1099' } });
        expect(range.status).toBe(206);
        expect(range.headers.get('content-range')).toBe(`bytes 100-1099/${h.bytes.length}`);
        expect(Buffer.from(await range.arrayBuffer()).equals(h.range), `${n} range`).toBe(true);
      }
    } finally {
      await enc.stop();
      await node.stop();
      await tier.close();
    }
  });
});
