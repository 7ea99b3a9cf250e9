/**
 * The reader's fast lane (reader.ts `lane`, decision 016): plain playlist, multivariant and MPD requests answered
 * without the URL parser and the async chain, synchronously from the manifest cache when it holds the current
 * render. Driven over real HTTP against createReader on the memory store: the lane must answer exactly what the
 * full path answers, never a render past the stream's manifest event, and must not skip an access check.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DisabledStreams } from '../../src/api/disabled.js';
import { cdnGate } from '../../src/auth/cdn/index.js';
import { playbackPolicy } from '../../src/auth/playback/index.js';
import { manifestName } from '../../src/core/index.js';
import { createMetrics } from '../../src/metrics.js';
import { createReaderAccess } from '../../src/reader/access.js';
import { type ReaderDeps, createReader } from '../../src/reader/reader.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { MemoryStore } from '../../src/store/memory/index.js';

const S = 'cam';
const R = '360p';
const PLAYLIST = `/live/${S}/${R}/index.m3u8`;

let store: MemoryStore;
let server: Server | undefined;
let close: (() => Promise<void>) | undefined;

afterEach(async () => {
  await close?.();
  close = undefined;
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server!.close(r));
    server = undefined;
  }
  await store?.close();
});

async function start(extra: Partial<ReaderDeps> = {}): Promise<string> {
  const log = pino({ level: 'silent' });
  const reader = createReader({
    store: { media: store.media, manifests: store.manifests, streams: store.streams, health: store.health },
    events: store.events,
    metrics: createMetrics(),
    log,
    ...extra,
  });
  close = () => reader.close();
  const s = createServer(reader.handle);
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function put(name: string, version: number): Promise<string> {
  const body = `#EXTM3U\n# ${name} render ${version}\n`;
  await store.manifests.store(
    S,
    [{ name, version, body, msn: version, part: 0, targetSec: 2, renderedAt: 1e12 + version }],
    60,
  );
  return body;
}

const announce = (v: number): Promise<void> =>
  store.events.publish({ t: 'manifest', s: S, v, pos: { [R]: { msn: v, part: 0 } } });

async function get(url: string, init: RequestInit = {}) {
  const r = await fetch(url, init);
  return { status: r.status, headers: r.headers, text: await r.text() };
}

async function until(f: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the fast lane', () => {
  it('answers what the full path answers: body, headers, 304, HEAD, CORS', async () => {
    store = new MemoryStore();
    const body = await put(manifestName.media(R), 3);
    const base = await start();
    const lane = await get(`${base}${PLAYLIST}`);
    // A query (even an unknown one) takes the full path.
    const full = await get(`${base}${PLAYLIST}?x=1`);
    expect(lane.status).toBe(200);
    expect(lane.text).toBe(body);
    expect(full.text).toBe(body);
    for (const h of [
      'content-type',
      'cache-control',
      'etag',
      'last-modified',
      'content-length',
      'access-control-allow-origin',
      'access-control-expose-headers',
    ])
      expect([h, lane.headers.get(h)]).toEqual([h, full.headers.get(h)]);
    const etag = lane.headers.get('etag')!;
    expect((await get(`${base}${PLAYLIST}`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const head = await get(`${base}${PLAYLIST}`, { method: 'HEAD' });
    expect([head.status, head.text, head.headers.get('content-length')]).toEqual([
      200,
      '',
      String(Buffer.byteLength(body)),
    ]);
    // URLs the WHATWG parser normalises take the full path and are answered as before.
    expect((await get(`${base}/live/${S}/${R}/%69ndex.m3u8`)).text).toBe(body);
    // Missing manifests: 404 with CORS, as on the full path.
    const missing = await get(`${base}/live/other/${R}/index.m3u8`);
    expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([404, '*']);
  });

  it('with the manifest cache on, never answers a render past the stream’s manifest event', async () => {
    store = new MemoryStore();
    await put(manifestName.media(R), 1);
    const base = await start({ manifestCacheMs: 60_000 });
    // The first reads subscribe; once the subscription is live a read is kept.
    await until(
      async () => (await get(`${base}${PLAYLIST}`)).text.includes('render 1'),
      'the first render served',
    );
    await new Promise((r) => setTimeout(r, 50));
    await get(`${base}${PLAYLIST}`); // read after the subscription is live: kept
    // Stored without an announcement: the cache still answers the render it holds (what the store had when
    // the last event came), proving the answer comes from the cache.
    await put(manifestName.media(R), 2);
    expect((await get(`${base}${PLAYLIST}`)).text).toContain('render 1');
    // The event ends it: from the next request on, the new render.
    await announce(2);
    expect((await get(`${base}${PLAYLIST}`)).text).toContain('render 2');
    await put(manifestName.media(R), 3);
    await announce(3);
    expect((await get(`${base}${PLAYLIST}`)).text).toContain('render 3');
  });

  it('a store outage is a 503 on the lane when nothing current is cached', async () => {
    store = new MemoryStore();
    await put(manifestName.media(R), 1);
    const base = await start();
    expect((await get(`${base}${PLAYLIST}`)).status).toBe(200);
    store.unreachable = new StoreUnavailableError('connection refused');
    const r = await get(`${base}${PLAYLIST}`);
    expect([r.status, r.headers.get('retry-after')]).toEqual([503, '1']);
  });

  it('does not skip the disabled-stream switch', async () => {
    store = new MemoryStore();
    await put(manifestName.media(R), 1);
    const base = await start({ disabled: new DisabledStreams(store.controls, 403), manifestCacheMs: 60_000 });
    expect((await get(`${base}${PLAYLIST}`)).status).toBe(200);
    expect((await get(`${base}${PLAYLIST}`)).status).toBe(200);
    await store.controls.setDisabled(S, true);
    // The set is read at most once a second: refused within about a second, cached render or not.
    await until(async () => (await get(`${base}${PLAYLIST}`)).status === 403, 'the stream refused');
    expect((await get(`${base}/live/${S}/master.m3u8`)).status).toBe(403);
  });

  it('is not taken when access is closed: the CDN secret is still required', async () => {
    store = new MemoryStore();
    await put(manifestName.media(R), 1);
    const log = pino({ level: 'silent' });
    const base = await start({
      access: createReaderAccess({
        cdn: cdnGate({ header: 'X-Wellspring-CDN-Secret', secrets: ['fast-lane-secret-0123456789'] }),
        playback: playbackPolicy({ keys: [], protect: [], edgeCacheSec: 10 }),
        log,
      }),
    });
    expect((await get(`${base}${PLAYLIST}`)).status).toBe(403);
    const ok = await get(`${base}${PLAYLIST}`, {
      headers: { 'X-Wellspring-CDN-Secret': 'fast-lane-secret-0123456789' },
    });
    expect(ok.status).toBe(200);
  });
});
