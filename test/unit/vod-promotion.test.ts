/**
 * Issue #11: "VOD objects use the same tiering: cold by default, hot when popular." Two readers (each its own
 * VodObjects, as two processes would have) over one store and one cold tier: an object read from cold more than
 * `after` times within the window is copied into the store's hot tier with a TTL, and from then on a reader that
 * never read it before answers it from the hot copy (same bytes, ETag and ranges) without touching the cold tier.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coldKey } from '../../src/core/names/cold.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { VodObjects } from '../../src/reader/vod.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { VodAssets } from '../../src/vod/assets.js';

const SEGMENT = Buffer.from('segment bytes of a popular asset, long enough for a range');
const PATH = '/vod/film/v/seg-3.m4s';

/** Cold reads of media objects (asset.json reads are the publication check). */
class CountingCold extends MemoryColdTier {
  mediaGets = 0;
  override async get(key: string, range?: { start: number; end: number }) {
    if (!key.endsWith('asset.json')) this.mediaGets++;
    return super.get(key, range);
  }
}

describe('VOD objects: cold by default, hot when popular', () => {
  let clock: number;
  let store: MemoryStore;
  let cold: CountingCold;
  const servers: Server[] = [];

  async function reader(metrics: Metrics = createMetrics()): Promise<string> {
    const vod = new VodObjects(new VodAssets(cold), 0 /* no process cache: every request reaches a tier */, {
      hot: store.hotAssets,
      after: 2,
      windowMs: 60_000,
      ttlSec: 30,
      log: pino({ level: 'silent' }),
      metrics: { reads: metrics.vodReads, promotions: metrics.vodPromotions },
      now: () => clock,
    });
    const server = createServer((req, res) => {
      vod.serve({ req, res, metrics }, new URL(req.url!, 'http://x').pathname).catch((err: unknown) => {
        res.statusCode = (err as { status?: number }).status ?? 500;
        res.end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeEach(async () => {
    clock = 1_000_000;
    store = new MemoryStore({ now: () => clock });
    cold = new CountingCold();
    await cold.put(coldKey.vod('film', 'v/seg-3.m4s'), SEGMENT, 'video/mp4');
    await cold.put(coldKey.vod('film', 'asset.json'), Buffer.from('{"name":"film"}'), 'application/json');
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('promotes an object read often; another reader then serves the hot copy, same bytes, ETag and ranges', async () => {
    const metricsA = createMetrics();
    const a = await reader(metricsA);
    const first = await fetch(a + PATH);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(Buffer.from(await first.arrayBuffer())).toEqual(SEGMENT);
    await fetch(a + PATH).then((r) => r.arrayBuffer());
    expect(await store.hotAssets.describe('film/v/seg-3.m4s')).toBeUndefined(); // 2 reads: not yet popular
    await fetch(a + PATH).then((r) => r.arrayBuffer()); // the third read within the window promotes it
    await expect.poll(() => store.hotAssets.describe('film/v/seg-3.m4s')).toBeDefined();
    expect(cold.mediaGets).toBe(3);
    expect(
      (await metricsA.registry.getSingleMetricAsString('wellspring_vod_promotions_total')).trim(),
    ).toMatch(/ 1$/);

    const b = await reader();
    const hot = await fetch(b + PATH);
    expect(hot.status).toBe(200);
    expect(hot.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await hot.arrayBuffer())).toEqual(SEGMENT);
    const ranged = await fetch(b + PATH, { headers: { range: 'bytes=8-12' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(SEGMENT.subarray(8, 13));
    expect(cold.mediaGets).toBe(3); // reader b never read the media from cold

    // The hot copy has a TTL: once it expires the cold tier answers again.
    clock += 31_000;
    expect((await fetch(b + PATH)).status).toBe(200);
    expect(cold.mediaGets).toBe(4);
  });

  it('reads spread beyond the window do not promote; the hot tier down falls back to cold', async () => {
    const a = await reader();
    for (let i = 0; i < 4; i++) {
      expect((await fetch(a + PATH)).status).toBe(200);
      clock += 61_000;
    }
    expect(await store.hotAssets.describe('film/v/seg-3.m4s')).toBeUndefined();
    store.unreachable = new Error('redis down');
    const r = await fetch(a + PATH);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer())).toEqual(SEGMENT);
  });
});
