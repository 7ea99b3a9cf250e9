/**
 * npm run bench:put — the object API (issue #10) on loopback, one ingest listener and one reader in this
 * process over a private redis-server:
 * - PutObject of 1 MB objects (STANDARD, token auth) by 1, 8 and 32 concurrent uploaders: objects/s and MB/s,
 *   and the time from a PUT's last byte to its answer (the object is stored, and readable, before the answer:
 *   every 10th object is read back through the reader to check);
 * - SigV4 at 8 uploaders (the signature check's cost);
 * - STREAMING: a reader already waiting on an upload in progress; time from a chunk's write to the reader
 *   receiving it;
 * - reference, same run: redis-server SET of the same 1 MB values by the same numbers of clients (what the store
 *   alone takes).
 * Prints JSON.
 */
import { createHash } from 'node:crypto';
import { type ClientRequest, type IncomingMessage, Agent, request } from 'node:http';
import { PutObjectCommand, MediaStoreDataClient } from '@aws-sdk/client-mediastore-data';
import { parseConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { connect } from '../src/store/redis/index.js';
import { startRedisServer } from '../tools/process/redis-server.js';
import { startNode } from '../workers/compose.js';
import { runCmafIngestBench } from './cmaf-ingest.js';
import { summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const OBJECT_BYTES = 1024 * 1024;
const CONCURRENCY = [1, 8, 32];
const TOKEN = 'bench-token-000001';
const KEY = { accessKeyId: 'AKIABENCHPUT0000001', secretAccessKey: 'bench-secret-access-key-0123456' };

const redis = await startRedisServer();
const config = parseConfig({
  redisUrl: redis.url,
  keyPrefix: 'bench',
  rtmp: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  httpIngest: {
    host: '127.0.0.1',
    port: 0,
    accessKeys: [KEY],
    // Short TTLs: the bench writes GBs through a Redis with no eviction.
    containers: [{ name: 'bench', tokens: [TOKEN], defaultTtlSec: 20 }],
  },
  logLevel: 'error',
});
const node = await startNode(
  config,
  ['ingest', 'reader'],
  createLogger('error', 'wellspring', 2),
  createMetrics(),
);
const ingestPort = node.httpIngestPort!;
const readerPort = node.httpPort!;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const body = Buffer.alloc(OBJECT_BYTES);
for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);

function put(path: string, headers: Record<string, string> = {}): Promise<{ lastByteToAnswerMs: number }> {
  return new Promise((resolve, reject) => {
    let lastByte = 0;
    const r = request(
      {
        host: '127.0.0.1',
        port: ingestPort,
        method: 'PUT',
        path: `${path}?token=${TOKEN}`,
        agent,
        headers: { 'Content-Type': 'video/mp4', 'Content-Length': String(body.length), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ lastByteToAnswerMs: performance.now() - lastByte })
            : reject(new Error(`PUT ${path}: ${res.statusCode}`)),
        );
      },
    );
    r.on('error', reject);
    r.end(body, () => (lastByte = performance.now()));
  });
}

function getStatus(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: readerPort, path, agent, method: 'HEAD' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end();
  });
}

async function putRun(concurrency: number, label: string, one: (path: string) => Promise<number>) {
  const lat: number[] = [];
  let n = 0;
  let unreadable = 0;
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const path = `/bench/${label}/c${concurrency}/w${w}/o${i}.m4s`;
        lat.push(await one(path));
        n++;
        if (i % 10 === 0 && (await getStatus(`/objects${path}`)) !== 200) unreadable++;
      }
    }),
  );
  const sec = (performance.now() - t0) / 1000;
  return {
    concurrency,
    objects: n,
    objectsPerSec: Math.round((n / sec) * 10) / 10,
    MBps: Math.round(((n * OBJECT_BYTES) / 1048576 / sec) * 10) / 10,
    lastByteToAnswerMs: summarize(lat),
    readBackNot200: unreadable,
  };
}

async function redisReference(concurrency: number) {
  const c = connect({ kind: 'standalone', url: redis.url }, 'command');
  let n = 0;
  const end = performance.now() + Math.min(SECONDS, 4) * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await c.set(`ref:{x}:${w}:${i}`, body, 'EX', 10);
        n++;
      }
    }),
  );
  const sec = (performance.now() - t0) / 1000;
  c.disconnect();
  return {
    concurrency,
    objectsPerSec: Math.round((n / sec) * 10) / 10,
    MBps: Math.round(((n * OBJECT_BYTES) / 1048576 / sec) * 10) / 10,
  };
}

/** A waiting reader on a STREAMING upload: chunk written -> chunk received, ms. */
async function streamingFirstByte(samples: number): Promise<ReturnType<typeof summarize>> {
  const lat: number[] = [];
  const chunk = Buffer.alloc(16 * 1024, 7);
  for (let s = 0; s < samples; s++) {
    const path = `/bench/stream/s${s}.m4s`;
    const up: ClientRequest = request({
      host: '127.0.0.1',
      port: ingestPort,
      method: 'PUT',
      path: `${path}?token=${TOKEN}`,
      headers: { 'x-amz-upload-availability': 'STREAMING', 'Content-Type': 'video/mp4' },
    });
    const answered = new Promise<void>((r) =>
      up.on('response', (res: IncomingMessage) => (res.resume(), r())),
    );
    up.write(Buffer.alloc(100, 1));
    // The reader joins once the upload exists (its first chunk is stored).
    let res: IncomingMessage | undefined;
    for (let tries = 0; !res && tries < 200; tries++) {
      res = await new Promise<IncomingMessage | undefined>((resolve, reject) => {
        const g = request({ host: '127.0.0.1', port: readerPort, path: `/objects${path}` }, (m) => {
          if (m.statusCode === 200) resolve(m);
          else {
            m.resume();
            m.on('end', () => setTimeout(() => resolve(undefined), 5));
          }
        });
        g.on('error', reject);
        g.end();
      });
    }
    if (!res) throw new Error('reader never joined the upload');
    let received = 0;
    let want = 100;
    let wake: (() => void) | undefined;
    res.on('data', (b: Buffer) => {
      received += b.length;
      if (received >= want) wake?.();
    });
    const wait = () => new Promise<void>((r) => (received >= want ? r() : (wake = r)));
    await wait();
    for (let k = 0; k < 5; k++) {
      want = received + chunk.length;
      const t = performance.now();
      up.write(chunk);
      await wait();
      lat.push(performance.now() - t);
    }
    up.end();
    await answered;
    res.resume();
  }
  return summarize(lat);
}

const results = [];
for (const c of CONCURRENCY)
  results.push(await putRun(c, 'token', (p) => put(p).then((r) => r.lastByteToAnswerMs)));

// SigV4 through the SDK (client signing included), 8 uploaders.
const sdk = new MediaStoreDataClient({
  endpoint: `http://127.0.0.1:${ingestPort}/bench`,
  region: 'us-east-1',
  credentials: KEY,
});
const sigv4 = await putRun(8, 'sigv4', async (p) => {
  const t = performance.now();
  await sdk.send(
    new PutObjectCommand({ Path: p.slice('/bench/'.length), Body: body, ContentType: 'video/mp4' }),
  );
  return performance.now() - t;
});
sdk.destroy();

const streaming = await streamingFirstByte(40);
const reference = [];
for (const c of CONCURRENCY) reference.push(await redisReference(c));

console.log(
  JSON.stringify(
    {
      bench: 'put',
      config: {
        seconds: SECONDS,
        objectBytes: OBJECT_BYTES,
        auth: 'token (query)',
        availability: 'STANDARD',
        host: `${process.platform} ${process.arch}, node ${process.version}`,
        sha256: createHash('sha256').update(body).digest('hex').slice(0, 12),
      },
      put: results,
      sigv4Sdk: {
        ...sigv4,
        note: 'lastByteToAnswerMs here is the whole SDK call (request signed, body sent, answer)',
      },
      streamingChunkToWaitingReaderMs: streaming,
      reference: {
        what: 'redis-server SET of the same 1 MB values (ioredis), same concurrency',
        results: reference,
      },
    },
    null,
    2,
  ),
);

agent.destroy();
await node.stop();
await redis.stop();
// DASH-IF CMAF ingest (issue #10): fragment sent -> playlist announcing it (bench/cmaf-ingest.ts), a second JSON.
console.log(JSON.stringify(await runCmafIngestBench(), null, 2));
process.exit(0);
