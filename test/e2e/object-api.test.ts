/**
 * The object API against the running origin (redis-server, ingest listener, reader, Varnish): the real
 * @aws-sdk/client-mediastore-data client, ffmpeg pushing HLS (played by hls.js in Chromium through Varnish) and
 * LL-DASH with STREAMING uploads (read chunk by chunk while they arrive), and bad input with its statuses and
 * log lines while an RTMP stream keeps going.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  DeleteObjectCommand,
  DescribeObjectCommand,
  GetObjectCommand,
  ListItemsCommand,
  MediaStoreDataClient,
  ObjectNotFoundException,
  PutObjectCommand,
} from '@aws-sdk/client-mediastore-data';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/config.js';
import { Sha256 } from '../../src/ingest/http/objects/auth.js';
import { createMetrics } from '../../src/metrics.js';
import type { Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { launchChromium } from '../../tools/latency/browser-meter.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import {
  captureLogger,
  type Encoder,
  encoder,
  rtmpEncoder,
  sleep,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const KEY = { accessKeyId: 'AKIAWELLSPRINGE2E01', secretAccessKey: 'e2e-secret-access-key-0123456789' };
const TOKEN = 'encoder-token-e2e-1';

let node: NodeHandle;
let cdn: EmbeddedCdn;
let store: Store;
let lines: Array<Record<string, unknown>>;
let client: MediaStoreDataClient;
let config: ReturnType<typeof testConfig>;
const encoders: Encoder[] = [];

beforeAll(async () => {
  config = testConfig({
    streams: [{ name: 'cam', key: 'cam-secret-key', ingest: { type: 'rtmp' } }],
    httpIngest: {
      host: '127.0.0.1',
      port: 0,
      maxObjectBytes: 4 * 1024 * 1024,
      maxStreamingBytes: 2 * 1024 * 1024,
      accessKeys: [KEY],
      containers: [
        { name: 'vod', tokens: [TOKEN], lifecycle: [{ prefix: 'ttl/', secondsSinceCreate: 1 }] },
        { name: 'hls', tokens: [TOKEN], lifecycle: [{ wildcard: '**.ts', secondsSinceCreate: 120 }] },
        { name: 'dash', defaultAvailability: 'STREAMING', allowedSourceIps: ['127.0.0.1/32'] },
      ],
    },
  });
  const cap = captureLogger();
  lines = cap.lines;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], cap.log, createMetrics());
  cdn = await startVarnishCdn([node.httpPort!], template);
  store = createRedisStore({
    target: redisTarget(config),
    prefix: config.keyPrefix,
    role: 'command',
    subscribe: true,
  });
  client = new MediaStoreDataClient({
    endpoint: `http://127.0.0.1:${node.httpIngestPort}/vod`,
    region: 'us-east-1',
    credentials: KEY,
  });
});

afterAll(async () => {
  await Promise.all(encoders.map((e) => e.stop()));
  client?.destroy();
  await node?.stop();
  await cdn?.stop();
  await store?.close();
});

const ingestUrl = (p: string): string => `http://127.0.0.1:${node.httpIngestPort}${p}`;

function raw(
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: Buffer; cut?: boolean } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: '127.0.0.1', port: node.httpIngestPort, method, path, headers: o.headers },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
      },
    );
    r.on('error', (e) => (o.cut ? resolve({ status: 0, headers: {}, body: '' }) : reject(e)));
    if (o.cut) {
      r.write(o.body);
      setTimeout(() => r.destroy(), 300);
      return;
    }
    r.end(o.body);
  });
}

describe('object API with the AWS SDK', () => {
  it('PutObject STANDARD, GetObject with and without Range, DescribeObject, DeleteObject', async () => {
    const body = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:2\n');
    const put = await client.send(
      new PutObjectCommand({
        Path: 'show/index.m3u8',
        Body: body,
        ContentType: 'application/vnd.apple.mpegurl',
        CacheControl: 'max-age=2',
        StorageClass: 'TEMPORAL',
        UploadAvailability: 'STANDARD',
      }),
    );
    expect(put.ContentSHA256).toMatch(/^[0-9a-f]{64}$/);
    const got = await client.send(new GetObjectCommand({ Path: 'show/index.m3u8' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.CacheControl).toBe('max-age=2');
    const part = await client.send(new GetObjectCommand({ Path: 'show/index.m3u8', Range: 'bytes=1-6' }));
    expect(Buffer.from(await part.Body!.transformToByteArray()).toString()).toBe('EXTM3U');
    expect(part.ContentRange).toBe(`bytes 1-6/${body.length}`);
    const d = await client.send(new DescribeObjectCommand({ Path: 'show/index.m3u8' }));
    expect(d.ContentLength).toBe(body.length);
    expect(d.ContentType).toBe('application/vnd.apple.mpegurl');
    // Served publicly through the CDN with the stored headers.
    const pub = await get(`${cdn.url}/objects/vod/show/index.m3u8`);
    expect(pub.status).toBe(200);
    expect(pub.headers.get('cache-control')).toBe('max-age=2');
    expect(pub.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(pub.body.equals(body)).toBe(true);
    await client.send(new DeleteObjectCommand({ Path: 'show/index.m3u8' }));
    await expect(client.send(new GetObjectCommand({ Path: 'show/index.m3u8' }))).rejects.toBeInstanceOf(
      ObjectNotFoundException,
    );
  });

  it('PutObject STREAMING with a body stream', async () => {
    const chunks = [Buffer.alloc(64 * 1024, 1), Buffer.alloc(64 * 1024, 2), Buffer.alloc(1000, 3)];
    await client.send(
      new PutObjectCommand({
        Path: 'live/seg-1.m4s',
        Body: Readable.from(chunks),
        ContentType: 'video/mp4',
        UploadAvailability: 'STREAMING',
      }),
    );
    const got = await client.send(new GetObjectCommand({ Path: 'live/seg-1.m4s' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('ListItems pages through folders and objects', async () => {
    for (const n of ['a.ts', 'b.ts', 'c.ts', 'sub/d.ts'])
      await client.send(new PutObjectCommand({ Path: `list/${n}`, Body: Buffer.from(n) }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await client.send(new ListItemsCommand({ Path: 'list', MaxResults: 3, NextToken: token }));
      pages++;
      for (const i of r.Items ?? []) seen.push(`${i.Type}:${i.Name}:${i.ContentLength ?? ''}`);
      token = r.NextToken;
    } while (token);
    expect(pages).toBe(2);
    expect(seen).toEqual(['OBJECT:a.ts:4', 'OBJECT:b.ts:4', 'OBJECT:c.ts:4', 'FOLDER:sub:']);
  });

  it('a wrong signature is a typed 403; an object past its lifecycle TTL is ObjectNotFoundException', async () => {
    const bad = new MediaStoreDataClient({
      endpoint: ingestUrl('/vod'),
      region: 'us-east-1',
      credentials: { ...KEY, secretAccessKey: 'wrong-secret-access-key-0123' },
      maxAttempts: 1,
    });
    const err = (await bad
      .send(new DescribeObjectCommand({ Path: 'list/a.ts' }))
      .catch((e: unknown) => e)) as {
      name: string;
      $metadata: { httpStatusCode: number };
    };
    bad.destroy();
    expect(err.name).toBe('AccessDeniedException');
    expect(err.$metadata.httpStatusCode).toBe(403);
    await client.send(new PutObjectCommand({ Path: 'ttl/x.ts', Body: Buffer.from('short-lived') }));
    expect((await client.send(new DescribeObjectCommand({ Path: 'ttl/x.ts' }))).ContentLength).toBe(11);
    await expect
      .poll(
        () =>
          client.send(new GetObjectCommand({ Path: 'ttl/x.ts' })).then(
            () => 'present',
            (e: unknown) => (e instanceof ObjectNotFoundException ? 'gone' : String(e)),
          ),
        { timeout: 10_000, interval: 250 },
      )
      .toBe('gone');
  });
});

describe('bad input, while an RTMP stream plays', () => {
  let cam: Encoder;
  let msnBefore = 0;

  beforeAll(async () => {
    cam = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/cam-secret-key`, 40);
    encoders.push(cam);
    await waitFor(
      async () => {
        const r = await get(`${cdn.url}/live/cam/360p/index.m3u8`);
        return r.status === 200 && m3u8(r.body.toString()).segments.length >= 2;
      },
      30_000,
      'cam live',
    );
    msnBefore = m3u8((await get(`${cdn.url}/live/cam/360p/index.m3u8`)).body.toString())
      .mediaSequence as number;
  });

  const refused = (status: number): number =>
    lines.filter((l) => l.msg === 'object request refused' && l.status === status).length;

  it('a body cut off mid-upload leaves nothing visible, and says so in the log', async () => {
    for (const avail of ['STANDARD', 'STREAMING']) {
      const path = `/vod/cut/${avail}.ts?token=${TOKEN}`;
      await raw('PUT', path, {
        body: Buffer.alloc(50_000, 1),
        headers: { 'x-amz-upload-availability': avail, 'Transfer-Encoding': 'chunked' },
        cut: true,
      });
    }
    await waitFor(
      () => lines.filter((l) => l.msg === 'upload cut off; nothing stored').length >= 2,
      10_000,
      'log',
    );
    for (const avail of ['STANDARD', 'STREAMING']) {
      expect(await store.objects.describe(`vod/cut/${avail}.ts`)).toBeUndefined();
      expect(await store.objects.upload(`vod/cut/${avail}.ts`)).toBeUndefined();
      expect((await get(`${cdn.url}/objects/vod/cut/${avail}.ts`)).status).toBe(404);
    }
  });

  it('over-limit bodies are 413 and nothing is stored', async () => {
    const before = refused(413);
    const big = Buffer.alloc(5 * 1024 * 1024, 1);
    expect((await raw('PUT', `/vod/big/a.ts?token=${TOKEN}`, { body: big })).status).toBe(413);
    const s = await raw('PUT', `/vod/big/b.ts?token=${TOKEN}`, {
      body: Buffer.alloc(3 * 1024 * 1024, 1),
      headers: { 'x-amz-upload-availability': 'STREAMING', 'Transfer-Encoding': 'chunked' },
    });
    expect(s.status).toBe(413);
    expect(JSON.parse(s.body).__type).toBe('PayloadTooLargeException');
    expect(await store.objects.describe('vod/big/a.ts')).toBeUndefined();
    expect(await store.objects.describe('vod/big/b.ts')).toBeUndefined();
    expect(await store.objects.upload('vod/big/b.ts')).toBeUndefined();
    expect(refused(413) - before).toBe(2);
  });

  it('traversal, encoded traversal and characters outside the set are 400', async () => {
    const before = refused(400);
    const paths = [
      '/vod/a/../../etc/passwd',
      '/vod/%2e%2e/x.ts',
      '/vod/a%2fb.ts',
      '/vod/a%5c..%5cb.ts',
      '/vod/a%20b.ts',
      '/vod/a$b.ts',
    ];
    for (const p of paths) {
      const r = await raw('PUT', `${p}?token=${TOKEN}`, { body: Buffer.from('x') });
      expect(r.status, p).toBe(400);
      expect(r.headers['x-amzn-errortype']).toBe('BadRequestException');
    }
    expect(refused(400) - before).toBe(paths.length);
    // The public path refuses them too.
    expect((await get(`http://127.0.0.1:${node.httpPort}/objects/vod/%2e%2e/list/a.ts`)).status).toBe(404);
  });

  it('a wrong token and a replayed signature outside the skew window are 403; no secret in the log', async () => {
    expect((await raw('PUT', '/vod/t.ts?token=not-the-token-1', { body: Buffer.from('x') })).status).toBe(
      403,
    );
    // A request signed 20 minutes ago, replayed now.
    const signer = new SignatureV4({
      credentials: KEY,
      region: 'us-east-1',
      service: 'mediastore',
      sha256: Sha256,
    });
    const signed = await signer.sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        path: '/vod/list/a.ts',
        query: {},
        headers: { host: `127.0.0.1:${node.httpIngestPort}` },
      },
      { signingDate: new Date(Date.now() - 20 * 60_000) },
    );
    const r = await raw('GET', '/vod/list/a.ts', { headers: signed.headers as Record<string, string> });
    expect(r.status).toBe(403);
    const reasons = lines.filter((l) => l.status === 403).map((l) => String(l.reason));
    expect(reasons).toContain('wrong token');
    expect(reasons.some((x) => /from the server's clock/.test(x))).toBe(true);
    const log = JSON.stringify(lines);
    expect(log).not.toContain('not-the-token-1');
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain(KEY.secretAccessKey);
  });

  it('the RTMP stream kept going', async () => {
    await waitFor(
      async () =>
        (m3u8((await get(`${cdn.url}/live/cam/360p/index.m3u8`)).body.toString()).mediaSequence as number) >
        msnBefore,
      20_000,
      'cam advancing',
    );
    await cam.stop();
  });
});

describe('ffmpeg pushing packaged streams (Interface 2)', () => {
  it('LL-DASH pushed with -streaming 1: a reader gets an in-progress segment chunk by chunk before its upload completes', async () => {
    const enc = encoder(
      [
        '-f',
        'dash',
        '-method',
        'PUT',
        '-streaming',
        '1',
        '-ldash',
        '1',
        '-seg_duration',
        '2',
        '-use_template',
        '1',
        '-use_timeline',
        '0',
        '-http_persistent',
        '1',
        `http://127.0.0.1:${node.httpIngestPort}/dash/live/manifest.mpd`,
      ],
      25,
      '320x180',
    );
    encoders.push(enc);
    await waitFor(
      async () => (await get(`${cdn.url}/objects/dash/live/manifest.mpd`)).status === 200,
      30_000,
      'mpd',
    );
    // Find a media segment being uploaded, and read it from the origin while it arrives.
    let seen = 0;
    for (let attempt = 0; attempt < 5 && seen === 0; attempt++) {
      const { items } = await store.objects.list('dash/live', 1000);
      const names = new Set(items.map((i) => i.name));
      const next = await waitFor(
        async () => {
          for (const rep of [0, 1]) {
            for (let n = 1; n < 60; n++) {
              const name = `chunk-stream${rep}-${String(n).padStart(5, '0')}.m4s`;
              if (names.has(name)) continue;
              if (await store.objects.upload(`dash/live/${name}`)) return name;
            }
          }
          return undefined;
        },
        10_000,
        'an upload in progress',
      );
      const path = `dash/live/${next}`;
      const res = await new Promise<{
        firstBeforeComplete: boolean;
        chunks: number;
        bytes: number;
        stored: number;
      }>((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port: node.httpPort, path: `/objects/${path}` }, (m) => {
          let chunks = 0;
          let bytes = 0;
          let firstBeforeComplete: Promise<boolean> | undefined;
          m.on('data', (b: Buffer) => {
            chunks++;
            bytes += b.length;
            firstBeforeComplete ??= store.objects.describe(path).then((d) => d === undefined);
          });
          m.on('end', async () => {
            const d = await store.objects.describe(path);
            resolve({
              firstBeforeComplete: (await firstBeforeComplete) ?? false,
              chunks,
              bytes,
              stored: d?.length ?? -1,
            });
          });
          m.on('error', reject);
        });
        r.on('error', reject);
        r.end();
      });
      expect(res.bytes).toBe(res.stored);
      if (res.firstBeforeComplete && res.chunks > 1) seen = res.chunks;
    }
    expect(seen).toBeGreaterThan(1);
    await enc.stop();
  });

  it('an HLS ladder pushed with PUT plays in hls.js through Varnish', async () => {
    const enc = encoder(
      [
        '-map',
        '0:v',
        '-map',
        '1:a',
        '-map',
        '0:v',
        '-map',
        '1:a',
        '-s:v:1',
        '320x180',
        '-b:v:0',
        '600k',
        '-b:v:1',
        '250k',
        '-f',
        'hls',
        '-hls_time',
        '1',
        '-hls_list_size',
        '6',
        '-master_pl_name',
        'master.m3u8',
        '-var_stream_map',
        'v:0,a:0 v:1,a:1',
        '-method',
        'PUT',
        '-http_persistent',
        '1',
        '-headers',
        `Authorization: Bearer ${TOKEN}\r\n`,
        `http://127.0.0.1:${node.httpIngestPort}/hls/show/stream_%v.m3u8`,
      ],
      45,
      '640x360',
    );
    encoders.push(enc);
    await waitFor(
      async () => {
        const r = await get(`${cdn.url}/objects/hls/show/stream_0.m3u8`);
        return r.status === 200 && m3u8(r.body.toString()).segments.length >= 3;
      },
      30_000,
      'pushed HLS live',
    );
    expect((await get(`${cdn.url}/objects/hls/show/master.m3u8`)).status).toBe(200);
    const profile = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
    const ctx = await launchChromium(profile);
    try {
      const page = await ctx.newPage();
      await page.goto(`${cdn.url}/`);
      await page.evaluate((src) => {
        const w = window as unknown as {
          Hls: new (c: object) => {
            loadSource(s: string): void;
            attachMedia(v: HTMLVideoElement): void;
            on(e: string, f: (e: string, d: { fatal: boolean; details: string }) => void): void;
          };
          t: { errors: string[]; stalls: number };
        };
        w.t = { errors: [], stalls: 0 };
        const v = document.createElement('video');
        v.id = 'pushed';
        v.muted = true;
        document.body.appendChild(v);
        const hls = new w.Hls({ lowLatencyMode: false });
        hls.on('hlsError', (_e, d) => w.t.errors.push(`${d.fatal ? 'fatal ' : ''}${d.details}`));
        v.addEventListener('waiting', () => w.t.stalls++);
        hls.loadSource(src);
        hls.attachMedia(v);
        void v.play();
      }, `${cdn.url}/objects/hls/show/master.m3u8`);
      await page.waitForFunction(
        () => (document.getElementById('pushed') as HTMLVideoElement).currentTime > 1,
        undefined,
        {
          timeout: 30_000,
        },
      );
      const stallsAtStart = await page.evaluate(
        () => (window as unknown as { t: { stalls: number } }).t.stalls,
      );
      const t0 = await page.evaluate(
        () => (document.getElementById('pushed') as HTMLVideoElement).currentTime,
      );
      await sleep(12_000);
      const r = await page.evaluate(() => {
        const v = document.getElementById('pushed') as HTMLVideoElement;
        const t = (window as unknown as { t: { errors: string[]; stalls: number } }).t;
        return { time: v.currentTime, width: v.videoWidth, errors: t.errors, stalls: t.stalls };
      });
      expect(r.errors.filter((e) => e.startsWith('fatal'))).toEqual([]);
      expect(r.width).toBeGreaterThan(0);
      expect(r.time - t0).toBeGreaterThan(10);
      expect(r.stalls - stallsAtStart).toBe(0);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
      await enc.stop();
    }
  });
});
