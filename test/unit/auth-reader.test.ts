/**
 * The reader's access checks in process (issue #12): createReader over the memory store with the CDN secret and
 * signed playback, driven with real HTTP requests. What the e2e suite proves through Varnish, here per status.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdnGate } from '../../src/auth/cdn/index.js';
import { playbackPolicy } from '../../src/auth/playback/index.js';
import { signPlayback } from '../../src/auth/playback/token.js';
import { manifestName } from '../../src/core/index.js';
import { createMetrics } from '../../src/metrics.js';
import { createReaderAccess } from '../../src/reader/access.js';
import { createReader } from '../../src/reader/reader.js';
import { MemoryStore } from '../../src/store/memory/index.js';

const KEY = { id: 'k1', secret: 'reader-test-key-0123456789' };
const SECRET = 'reader-test-cdn-secret-0123';
const H = { 'x-wellspring-cdn-secret': SECRET };
let now = 1_800_000_000_000;
const lines: Array<Record<string, unknown>> = [];
let store: MemoryStore;
let server: Server;
let base: string;

beforeAll(async () => {
  store = new MemoryStore();
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const reader = createReader({
    store: { media: store.media, manifests: store.manifests, streams: store.streams, health: store.health },
    events: store.events,
    metrics: createMetrics(),
    log,
    access: createReaderAccess({
      cdn: cdnGate({ header: 'X-Wellspring-CDN-Secret', secrets: [SECRET] }),
      playback: playbackPolicy({ keys: [KEY], protect: ['paid'], edgeCacheSec: 10 }),
      log,
      now: () => now,
    }),
  });
  for (const s of ['paid', 'free'])
    await store.manifests.store(
      s,
      [
        {
          name: manifestName.master,
          version: 1,
          body: '#EXTM3U\n',
          msn: 0,
          part: 0,
          targetSec: 2,
          renderedAt: 1e12,
        },
      ],
      60,
    );
  server = createServer(reader.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.close();
});

const get = async (path: string, headers: Record<string, string> = H) => {
  const r = await fetch(`${base}${path}`, { headers });
  return { status: r.status, cc: r.headers.get('cache-control'), text: await r.text() };
};
const tok = (stream: string, ttl = 60) =>
  signPlayback({ stream, expSec: Math.floor(now / 1000) + ttl, key: KEY });

describe('reader access', () => {
  it('needs the CDN secret everywhere but /healthz', async () => {
    expect((await get('/healthz', {})).status).toBe(200);
    expect(await get('/streams', {})).toMatchObject({
      status: 403,
      text: 'CDN_SECRET: requests must come through the CDN\n',
    });
    expect((await get('/streams')).status).toBe(200);
  });

  it('protects the listed stream only, and strips the token prefix before routing', async () => {
    expect((await get('/live/free/master.m3u8')).status).toBe(200);
    expect((await get('/live/paid/master.m3u8')).text).toMatch(/^TOKEN_MISSING:/);
    expect((await get(`/s/${tok('paid')}/live/paid/master.m3u8`)).status).toBe(200);
    expect((await get(`/s/${tok('free')}/live/paid/master.m3u8`)).text).toMatch(/^TOKEN_BAD_SIGNATURE:/);
    // A token only prefixes stream URLs.
    expect((await get(`/s/${tok('paid')}/streams`)).status).toBe(404);
  });

  it('answers the CDN token check, cacheable no longer than the token lives', async () => {
    expect(await get(`/s/${tok('paid', 3600)}/live/paid/.access`)).toMatchObject({
      status: 200,
      cc: 'public, max-age=10',
    });
    expect(await get(`/s/${tok('paid', 5)}/live/paid/.access`)).toMatchObject({
      status: 200,
      cc: 'public, max-age=4',
    });
    const t = tok('paid', 5);
    now += 6000;
    expect(await get(`/s/${t}/live/paid/.access`)).toMatchObject({ status: 403, cc: 'no-store' });
    expect((await get(`/s/${t}/live/paid/master.m3u8`)).text).toMatch(/^TOKEN_EXPIRED:/);
  });

  it('logs refusals with the reason, never the token or the secret', () => {
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(lines.some((l) => l.msg === 'playback refused' && l.reason === 'expired')).toBe(true);
    expect(text).not.toContain(KEY.secret);
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/h1\.k1\./);
  });
});
