/**
 * Redis goes away mid-stream (the server is frozen with SIGSTOP, then resumed): the reader answers 503 with
 * Retry-After instead of hanging or serving a stale playlist; the ingest keeps the encoder connected, retries,
 * logs, drops the oldest media past its bounded buffer (counted), and carries on when Redis is back.
 */
import { afterAll, expect, it } from 'vitest';
import { type EmbeddedRedis, startRedisServer } from '../../tools/process/redis-server.js';
import { createMetrics } from '../../src/metrics.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, type Encoder, rtmpEncoder, sleep, testConfig, waitFor } from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

let redis: EmbeddedRedis;
let node: NodeHandle | undefined;
let enc: Encoder | undefined;

afterAll(async () => {
  try {
    process.kill(redis.pid, 'SIGCONT');
  } catch {
    // gone
  }
  await enc?.stop();
  await node?.stop();
  await redis?.stop();
});

it('survives Redis freezing mid-stream: 503s from the reader, bounded buffering and recovery in the ingest', async () => {
  redis = await startRedisServer();
  const config = testConfig({ redisUrl: redis.url, publishBufferBytes: 1_000_000 });
  const { log, lines } = captureLogger();
  const metrics = createMetrics();
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, metrics);
  const base = `http://127.0.0.1:${node.httpPort}/live/cam`;
  enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/cam`, 40);
  await waitFor(async () => (await get(`${base}/360p/index.m3u8`)).status === 200, 30_000, 'stream live');
  await sleep(3000);
  const before = m3u8((await get(`${base}/360p/index.m3u8`)).body.toString());

  process.kill(redis.pid, 'SIGSTOP');
  try {
    const r = await get(`${base}/360p/index.m3u8`); // get() aborts after 20 s: a hang fails the test
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    const blocking = await get(
      `${base}/360p/index.m3u8?_HLS_msn=${before.mediaSequence + before.segments.length}&_HLS_part=0`,
    );
    expect(blocking.status).toBe(503);
    await sleep(12_000);
    expect(enc.child.exitCode).toBeNull(); // the encoder is still connected and publishing
  } finally {
    process.kill(redis.pid, 'SIGCONT');
  }

  // Quiet failure logs: one line when Redis went away, not a stack per retry.
  expect(lines.filter((l) => l.msg === 'Redis (media writes) unreachable; retrying quietly')).toHaveLength(1);
  const dropped = (await metrics.publishDropped.get()).values.reduce((n, v) => n + v.value, 0);
  expect(dropped).toBeGreaterThan(0);
  // Publishing resumes and the playlist moves on, with every listed segment fetchable.
  const after = await waitFor(
    async () => {
      const r = await get(`${base}/360p/index.m3u8`);
      if (r.status !== 200) return undefined;
      const m = m3u8(r.body.toString());
      return m.mediaSequence + m.segments.length > before.mediaSequence + before.segments.length + 3
        ? m
        : undefined;
    },
    30_000,
    'publishing resumed',
  );
  expect(after.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence);
  for (const s of after.segments as Array<{ uri: string }>)
    expect((await get(`${base}/360p/${s.uri}`)).status).toBe(200);
  const back = lines.filter((l) => l.msg === 'Redis (media writes) reachable again');
  expect(back).toHaveLength(1);
  expect(back[0]!.failures).toBeGreaterThan(0);
  // Every component together logged a handful of error lines for a 12 s outage, not one per retry.
  expect(lines.filter((l) => (l.level as number) >= 50).length).toBeLessThan(10);
  expect(await enc.done).toBe(0);
});
