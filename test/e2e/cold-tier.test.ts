/**
 * The cold tier as composed (issue #11, decision 013): one node (ingest, manifest, reader) with `cold.type disk`
 * publishes a live stream over RTMP; the ingest's segments reach the disk tier behind the live path. With a 1 s
 * segment and 6 s windows, a segment's Redis TTL is 14 s: the test waits until Redis really dropped one (TTL
 * expiry, nothing deleted by hand), then the node's reader still serves it, from the cold tier, with the bytes,
 * ETag and byte ranges a second reader served while it was hot. Metrics count the cold writes and the cold read.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/config.js';
import { type Metrics, createMetrics } from '../../src/metrics.js';
import type { Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { type Encoder, TEST_LADDER, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';

const S = 'coldcam';
const R = TEST_LADDER[0]!.name;
let dir: string;
let node: NodeHandle | undefined;
let hotReader: NodeHandle | undefined;
let plain: Store | undefined;
let enc: Encoder | undefined;

afterAll(async () => {
  await enc?.stop();
  await hotReader?.stop();
  await node?.stop();
  await plain?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function metric(m: Metrics, name: string, labels: string): Promise<number> {
  const text = await m.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('cold tier (disk) as composed', () => {
  it('serves a segment Redis let expire from the cold tier with the same bytes, ETag and ranges', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ws-cold-'));
    const config = testConfig({
      defaults: { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 6, ladder: [TEST_LADDER[0]!] },
      // keep: the sweeper (manifest role) would otherwise delete what is 6 s old
      cold: { type: 'disk', dir, keep: [S] },
    });
    const log = pino({ level: 'warn' });
    const metrics = createMetrics();
    node = await startNode(config, ['ingest', 'manifest', 'reader'], log, metrics);
    hotReader = await startNode(config, ['reader'], log, createMetrics());
    plain = createRedisStore({ target: redisTarget(config), prefix: config.keyPrefix, role: 'reader' });
    enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/${config.rtmp.app}/${S}`, 45);

    const hotBase = `http://127.0.0.1:${hotReader.httpPort}/live/${S}/${R}`;
    const coldBase = `http://127.0.0.1:${node.httpPort}/live/${S}/${R}`;
    // The first segment a live playlist lists, read from the second reader while it is hot.
    const file = await waitFor(
      async () => {
        const r = await fetch(`${hotBase}/index.m3u8`);
        if (r.status !== 200) return undefined;
        return /^(seg-\d+\.m4s)$/m.exec(await r.text())?.[1];
      },
      60_000,
      'a listed segment',
    );
    const hot = await fetch(`${hotBase}/${file}`);
    expect(hot.status).toBe(200);
    const hotBytes = Buffer.from(await hot.arrayBuffer());
    const hotEtag = hot.headers.get('etag');
    expect(hotEtag).toBeTruthy();
    const hotRange = await fetch(`${hotBase}/${file}`, { headers: { Range: 'bytes=100-1099' } });
    expect(hotRange.status).toBe(206);
    const hotRangeBytes = Buffer.from(await hotRange.arrayBuffer());

    // In the cold tier (bytes on disk), then gone from Redis by its TTL.
    await waitFor(
      () =>
        access(join(dir, 'live', S, R, file)).then(
          () => true,
          () => false,
        ),
      30_000,
      'the segment in the cold tier',
    );
    await waitFor(
      async () => (await plain!.media.getObject(S, R, file)) === null,
      60_000,
      'Redis to expire the segment',
    );

    // The node's reader never read it while hot (its process cache is empty for it): this comes from cold.
    const cold = await fetch(`${coldBase}/${file}`);
    expect(cold.status).toBe(200);
    expect(Buffer.from(await cold.arrayBuffer()).equals(hotBytes)).toBe(true);
    expect(cold.headers.get('etag')).toBe(hotEtag);
    const coldRange = await fetch(`${coldBase}/${file}`, { headers: { Range: 'bytes=100-1099' } });
    expect(coldRange.status).toBe(206);
    expect(coldRange.headers.get('content-range')).toBe(hotRange.headers.get('content-range'));
    expect(Buffer.from(await coldRange.arrayBuffer()).equals(hotRangeBytes)).toBe(true);
    const revalidate = await fetch(`${coldBase}/${file}`, { headers: { 'If-None-Match': hotEtag! } });
    expect(revalidate.status).toBe(304);

    // A segment that never existed is still a 404 (a cold miss, not an error).
    expect((await fetch(`${coldBase}/seg-999999.m4s`)).status).toBe(404);

    expect(
      await metric(metrics, 'wellspring_cold_writes_total', 'result="ok",kind="segment"'),
    ).toBeGreaterThan(5);
    expect(
      await metric(metrics, 'wellspring_cold_writes_total', 'result="ok",kind="init"'),
    ).toBeGreaterThanOrEqual(1);
    expect(await metric(metrics, 'wellspring_cold_reads_total', 'result="hit"')).toBeGreaterThanOrEqual(1);
    expect(await metric(metrics, 'wellspring_cold_writes_total', 'result="dropped"')).toBe(0);
  }, 150_000);
});
