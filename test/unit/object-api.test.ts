/**
 * The object API in process, over the memory store, with the real @aws-sdk/client-mediastore-data client and
 * plain HTTP for what the SDK cannot send (tokens, bad paths, cut bodies).
 */
import { request } from 'node:http';
import {
  DeleteObjectCommand,
  DescribeObjectCommand,
  GetObjectCommand,
  ListItemsCommand,
  MediaStoreDataClient,
  ContainerNotFoundException,
  ObjectNotFoundException,
  PutObjectCommand,
  RequestedRangeNotSatisfiableException,
} from '@aws-sdk/client-mediastore-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { createObjectApi } from '../../src/ingest/http/objects/service.js';
import { type IngestHttp, startIngestHttp } from '../../src/ingest/http/listener.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { captureLogger } from '../support/harness.js';

const KEY = { accessKeyId: 'AKIAWELLSPRINGTEST', secretAccessKey: 'wellspring-test-secret-0123456789' };
const TOKEN = 'encoder-token-123';

let http: IngestHttp;
let lines: Array<Record<string, unknown>>;
let store: MemoryStore;
let client: MediaStoreDataClient;

beforeAll(async () => {
  const cap = captureLogger();
  lines = cap.lines;
  store = new MemoryStore();
  const config = parseConfig({
    httpIngest: {
      host: '127.0.0.1',
      port: 0,
      maxObjectBytes: 64 * 1024,
      maxStreamingBytes: 32 * 1024,
      accessKeys: [KEY],
      containers: [
        {
          name: 'c1',
          tokens: [TOKEN],
          lifecycle: [{ prefix: 'short/', secondsSinceCreate: 1 }],
          cors: [{ allowedOrigins: ['https://player.example'] }],
        },
      ],
    },
  });
  const hi = config.httpIngest;
  http = await startIngestHttp({
    host: '127.0.0.1',
    port: 0,
    mounts: [],
    fallback: createObjectApi({ store: store.objects, config: hi, log: cap.log }),
    timeouts: hi,
    log: cap.log,
  });
  client = new MediaStoreDataClient({
    endpoint: `http://127.0.0.1:${http.port}/c1`,
    region: 'us-east-1',
    credentials: KEY,
  });
});

afterAll(async () => {
  client?.destroy();
  await http?.close();
});

function raw(
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: Buffer; cut?: boolean } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: http.port, method, path, headers: o.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
    });
    r.on('error', (e) => (o.cut ? undefined : reject(e)));
    if (o.cut) {
      r.write(o.body);
      setTimeout(() => r.destroy(), 50);
      r.on('close', () => resolve({ status: 0, headers: {}, body: '' }));
      return;
    }
    r.end(o.body);
  });
}

describe('object API (memory store, real SDK)', () => {
  it('puts, gets (whole and a range), describes and deletes an object with its Content-Type and Cache-Control', async () => {
    const body = Buffer.from('#EXTM3U\n#EXT-X-VERSION:7\n');
    const put = await client.send(
      new PutObjectCommand({
        Path: 'live/a/index.m3u8',
        Body: body,
        ContentType: 'application/vnd.apple.mpegurl',
        CacheControl: 'max-age=1',
        StorageClass: 'TEMPORAL',
      }),
    );
    expect(put.ContentSHA256).toMatch(/^[0-9a-f]{64}$/);
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await client.send(new GetObjectCommand({ Path: 'live/a/index.m3u8' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ContentType).toBe('application/vnd.apple.mpegurl');
    expect(got.CacheControl).toBe('max-age=1');
    const part = await client.send(new GetObjectCommand({ Path: 'live/a/index.m3u8', Range: 'bytes=1-6' }));
    expect(part.StatusCode).toBe(206);
    expect(Buffer.from(await part.Body!.transformToByteArray()).toString()).toBe('EXTM3U');
    await expect(
      client.send(new GetObjectCommand({ Path: 'live/a/index.m3u8', Range: 'bytes=999-' })),
    ).rejects.toBeInstanceOf(RequestedRangeNotSatisfiableException);
    const d = await client.send(new DescribeObjectCommand({ Path: 'live/a/index.m3u8' }));
    expect(d.ContentLength).toBe(body.length);
    expect(d.ETag).toBe(put.ETag);
    await client.send(new DeleteObjectCommand({ Path: 'live/a/index.m3u8' }));
    await expect(client.send(new GetObjectCommand({ Path: 'live/a/index.m3u8' }))).rejects.toBeInstanceOf(
      ObjectNotFoundException,
    );
  });

  it('lists folders and objects with paging', async () => {
    for (const n of ['x1.ts', 'x2.ts', 'x3.ts', 'sub/y.ts'])
      await client.send(
        new PutObjectCommand({ Path: `list/${n}`, Body: Buffer.from(n), ContentType: 'video/mp2t' }),
      );
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await client.send(new ListItemsCommand({ Path: 'list', MaxResults: 2, NextToken: token }));
      pages++;
      for (const i of r.Items ?? []) names.push(`${i.Type}:${i.Name}`);
      token = r.NextToken;
    } while (token);
    expect(pages).toBe(2);
    expect(names).toEqual(['FOLDER:sub', 'OBJECT:x1.ts', 'OBJECT:x2.ts', 'OBJECT:x3.ts']);
  });

  it('refuses a wrong secret with a typed 403', async () => {
    const bad = new MediaStoreDataClient({
      endpoint: `http://127.0.0.1:${http.port}/c1`,
      region: 'us-east-1',
      credentials: { ...KEY, secretAccessKey: 'not-the-secret-0123456789' },
    });
    const err = (await bad.send(new GetObjectCommand({ Path: 'list/x1.ts' })).catch((e: unknown) => e)) as {
      name: string;
      $metadata: { httpStatusCode: number };
    };
    bad.destroy();
    expect(err.name).toBe('AccessDeniedException');
    expect(err.$metadata.httpStatusCode).toBe(403);
    expect(lines.some((l) => l.reason === 'signature does not match')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('not-the-secret');
  });

  it('accepts a container token (query, Bearer, Basic) and refuses a wrong one', async () => {
    const body = Buffer.from('segment');
    expect((await raw('PUT', `/c1/t/a.ts?token=${TOKEN}`, { body })).status).toBe(200);
    expect(
      (await raw('PUT', '/c1/t/b.ts', { body, headers: { Authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(200);
    const basic = Buffer.from(`enc:${TOKEN}`).toString('base64');
    expect(
      (await raw('PUT', '/c1/t/c.ts', { body, headers: { Authorization: `Basic ${basic}` } })).status,
    ).toBe(200);
    const wrong = await raw('PUT', '/c1/t/d.ts?token=wrong-token-00', { body });
    expect(wrong.status).toBe(403);
    expect(wrong.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    expect(JSON.stringify(lines)).not.toContain('wrong-token-00');
    expect(await store.objects.describe('c1/t/d.ts')).toBeUndefined();
  });

  it('answers 400 for traversal, encoded traversal and characters outside the set, with the reason logged', async () => {
    for (const p of [
      '/c1/a/../b.ts',
      '/c1/%2e%2e/b.ts',
      '/c1/a%2fb.ts',
      '/c1/a%5cb.ts',
      '/c1/a b.ts',
      '/c1/a$b.ts',
    ]) {
      const r = await raw('PUT', `${p.replace(' ', '%20')}?token=${TOKEN}`, { body: Buffer.from('x') });
      expect(r.status, p).toBe(400);
      expect(JSON.parse(r.body).__type).toBe('BadRequestException');
    }
    expect(
      lines.filter((l) => l.msg === 'object request refused' && l.status === 400).length,
    ).toBeGreaterThanOrEqual(6);
  });

  it('answers 413 past the limits and stores nothing', async () => {
    const big = Buffer.alloc(70 * 1024, 1);
    const r = await raw('PUT', `/c1/big.ts?token=${TOKEN}`, { body: big });
    expect(r.status).toBe(413);
    const s = await raw('PUT', `/c1/bigs.ts?token=${TOKEN}`, {
      body: Buffer.alloc(40 * 1024, 1),
      headers: { 'x-amz-upload-availability': 'STREAMING', 'Transfer-Encoding': 'chunked' },
    });
    expect(s.status).toBe(413);
    expect(await store.objects.describe('c1/big.ts')).toBeUndefined();
    expect(await store.objects.describe('c1/bigs.ts')).toBeUndefined();
    expect(await store.objects.upload('c1/bigs.ts')).toBeUndefined();
  });

  it('leaves nothing visible when a STREAMING body is cut off', async () => {
    await raw('PUT', `/c1/cut.ts?token=${TOKEN}`, {
      body: Buffer.alloc(1000, 2),
      headers: { 'x-amz-upload-availability': 'STREAMING', 'Transfer-Encoding': 'chunked' },
      cut: true,
    });
    await expect
      .poll(() => lines.some((l) => l.msg === 'upload cut off; nothing stored'), { timeout: 5000 })
      .toBe(true);
    expect(await store.objects.describe('c1/cut.ts')).toBeUndefined();
    expect(await store.objects.upload('c1/cut.ts')).toBeUndefined();
  });

  it('streams a STREAMING object to a reader while it arrives', async () => {
    const path = `/c1/s/seg.m4s?token=${TOKEN}`;
    const up = request({
      host: '127.0.0.1',
      port: http.port,
      method: 'PUT',
      path,
      headers: { 'x-amz-upload-availability': 'STREAMING', 'Content-Type': 'video/mp4' },
    });
    up.write(Buffer.alloc(100, 7));
    await expect.poll(() => store.objects.upload('c1/s/seg.m4s'), { timeout: 5000 }).toBeDefined();
    await expect
      .poll(
        async () =>
          (await store.objects.chunks('c1/s/seg.m4s', (await store.objects.upload('c1/s/seg.m4s'))!.id, 0))
            ?.length ?? 0,
        { timeout: 5000 },
      )
      .toBe(1);
    const firstBytes = new Promise<{ n: number; body: Promise<Buffer> }>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: http.port, path }, (res) => {
        const parts: Buffer[] = [];
        const body = new Promise<Buffer>((done) => res.on('end', () => done(Buffer.concat(parts))));
        res.once('data', (b: Buffer) => {
          parts.push(b);
          resolve({ n: b.length, body });
          res.on('data', (c: Buffer) => parts.push(c));
        });
      });
      r.on('error', reject);
      r.end();
    });
    const first = await firstBytes; // before the upload ends
    expect(first.n).toBe(100);
    up.end(Buffer.alloc(50, 8));
    const all = await first.body;
    expect(all.length).toBe(150);
    expect((await store.objects.describe('c1/s/seg.m4s'))?.length).toBe(150);
  });

  it('expires objects under a transient lifecycle rule', async () => {
    await client.send(new PutObjectCommand({ Path: 'short/x.ts', Body: Buffer.from('x') }));
    expect((await client.send(new DescribeObjectCommand({ Path: 'short/x.ts' }))).ContentLength).toBe(1);
    await expect
      .poll(
        () =>
          client.send(new DescribeObjectCommand({ Path: 'short/x.ts' })).then(
            () => 'there',
            (e: unknown) => (e as Error).name,
          ),
        { timeout: 5000, interval: 200 },
      )
      .toBe('ObjectNotFoundException');
  });
});

describe('object API refusals', () => {
  it('names an unknown container with ContainerNotFoundException (after authentication)', async () => {
    const other = new MediaStoreDataClient({
      endpoint: `http://127.0.0.1:${http.port}/nope`,
      region: 'us-east-1',
      credentials: KEY,
      maxAttempts: 1,
    });
    const err = await other.send(new GetObjectCommand({ Path: 'a.ts' })).catch((e: unknown) => e);
    other.destroy();
    expect(err).toBeInstanceOf(ContainerNotFoundException);
  });

  it('answers 408 to an upload slower than uploadTimeoutMs and stores nothing', async () => {
    const cap = captureLogger();
    const hi = parseConfig({
      httpIngest: {
        host: '127.0.0.1',
        port: 0,
        uploadTimeoutMs: 1000,
        containers: [{ name: 'c1', tokens: [TOKEN] }],
      },
    }).httpIngest;
    const slow = await startIngestHttp({
      host: '127.0.0.1',
      port: 0,
      mounts: [],
      fallback: createObjectApi({ store: store.objects, config: hi, log: cap.log }),
      timeouts: hi,
      log: cap.log,
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const r = request(
          {
            host: '127.0.0.1',
            port: slow.port,
            method: 'PUT',
            path: `/c1/slow.ts?token=${TOKEN}`,
            headers: { 'x-amz-upload-availability': 'STREAMING' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.on('error', reject);
        r.write(Buffer.alloc(10, 1)); // and never ends
      });
      expect(status).toBe(408);
      expect(cap.lines.some((l) => l.status === 408 && l.reason === 'upload time limit')).toBe(true);
      expect(await store.objects.describe('c1/slow.ts')).toBeUndefined();
      expect(await store.objects.upload('c1/slow.ts')).toBeUndefined();
    } finally {
      await slow.close();
    }
  });
});

describe('object API CORS', () => {
  it('answers a preflight from an allowed origin and tags its reads; refuses other origins', async () => {
    await raw('PUT', `/c1/cors/a.ts?token=${TOKEN}`, { body: Buffer.from('x') });
    const pre = await raw('OPTIONS', '/c1/cors/a.ts', {
      headers: { Origin: 'https://player.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers['access-control-allow-origin']).toBe('https://player.example');
    const read = await raw('GET', `/c1/cors/a.ts?token=${TOKEN}`, {
      headers: { Origin: 'https://player.example' },
    });
    expect(read.status).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBe('https://player.example');
    const evil = await raw('OPTIONS', '/c1/cors/a.ts', {
      headers: { Origin: 'https://evil.test', 'Access-Control-Request-Method': 'GET' },
    });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });
});
