/**
 * The reader in process: createReader over the memory store, driven with real HTTP requests to a server on
 * port 0. Manifests and media are written through the store's ports and announced on its event bus, as the
 * manifest worker and the ingest do (manifest bodies are opaque to the reader: any text will do).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manifestName, objectName, type PartEntry, type SegmentEntry } from '../../src/core/index.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { createReader, type Reader } from '../../src/reader/reader.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { acceptQueue } from '../../tools/load/ramp.js';
import type { ManifestStore, MediaEvent } from '../../src/store/ports.js';

const S = 'cam';
const R = '360p';
const TICKS = 1000;

let store: MemoryStore;
let metrics: Metrics;
let lines: Array<Record<string, unknown>>;
let reader: Reader;
let base: string;
let servers: Server[];

function start(manifests: ManifestStore = store.manifests): Promise<string> {
  lines = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  metrics = createMetrics();
  reader = createReader({
    store: { media: store.media, manifests, streams: store.streams, health: store.health },
    events: store.events,
    metrics,
    log,
  });
  // handle() is a plain request handler: served by a server of the test's own.
  const server = createServer(reader.handle);
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

beforeEach(async () => {
  store = new MemoryStore();
  servers = [];
  base = await start();
});

afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await store.close();
});

interface Got {
  status: number;
  headers: Headers;
  text: string;
  bytes: Buffer;
}

async function get(path: string, init: RequestInit = {}): Promise<Got> {
  const r = await fetch(`${base}${path}`, init);
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, text: bytes.toString(), bytes };
}

/** A request whose completion the test can observe without awaiting it. */
function pending(path: string, init: RequestInit = {}): { done: () => boolean; result: Promise<Got> } {
  let finished = false;
  const result = get(path, init).finally(() => (finished = true));
  return { done: () => finished, result };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function putManifest(
  name: string,
  o: { version: number; msn: number; part: number; targetSec?: number },
): Promise<string> {
  const body = `#EXTM3U\n# ${name} version ${o.version}\n`;
  await store.manifests.store(
    S,
    [
      {
        name,
        version: o.version,
        body,
        msn: o.msn,
        part: o.part,
        targetSec: o.targetSec ?? 2,
        renderedAt: 1e12,
      },
    ],
    60,
  );
  return body;
}

const bytesOf = (tag: string, n = 64): Buffer => Buffer.alloc(n, tag);

function partEntry(msn: number, index: number, bytes: Buffer): PartEntry {
  return {
    msn,
    index,
    startTicks: (msn * 4 + index) * TICKS,
    durationTicks: TICKS,
    independent: index === 0,
    byteLength: bytes.length,
  };
}

function segmentEntry(msn: number, parts: PartEntry[], byteLength: number): SegmentEntry {
  return {
    msn,
    discontinuitySeq: 0,
    discontinuity: false,
    initId: 0,
    startTicks: msn * 4 * TICKS,
    durationTicks: parts.length * TICKS,
    independent: true,
    byteLength,
    wallClockMs: 1e12,
    periodStartTicks: 0,
    periodWallClockMs: 1e12,
    parts,
  };
}

/** Parts written so far per segment, as the ingest's open entry lists them. */
const written = new Map<number, PartEntry[]>();

async function writePart(msn: number, index: number, bytes: Buffer): Promise<void> {
  const parts = [...(written.get(msn) ?? []), partEntry(msn, index, bytes)];
  written.set(msn, parts);
  const open = segmentEntry(
    msn,
    parts,
    parts.reduce((n, p) => n + p.byteLength, 0),
  );
  await store.media.publishPart(S, R, parts.at(-1)!, open, bytes, { partSec: 60, openSec: 60 });
}

async function writeSegment(msn: number, bytes: Buffer): Promise<void> {
  const parts = written.get(msn) ?? [];
  await store.media.publishSegment(S, R, segmentEntry(msn, parts, bytes.length), bytes, {
    segmentSec: 60,
    initSec: 60,
    keepSegments: 10,
    keepPartsSegments: 3,
  });
}

const announce = (ev: MediaEvent): Promise<void> => store.events.publish(ev);

beforeEach(() => written.clear());

describe('playlists', () => {
  it('serves a stored playlist with its validators, and 304 for a matching If-None-Match', async () => {
    const body = await putManifest(manifestName.media(R), { version: 7, msn: 5, part: 2, targetSec: 4 });
    const r = await get(`/live/${S}/${R}/index.m3u8`);
    expect(r.status).toBe(200);
    expect(r.text).toBe(body);
    expect(r.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(r.headers.get('etag')).toBe('"v7"');
    expect(r.headers.get('last-modified')).toBe(new Date(1e12).toUTCString());
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    const again = await get(`/live/${S}/${R}/index.m3u8`, { headers: { 'If-None-Match': '"v7"' } });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
    expect(again.headers.get('cache-control')).toBe('public, max-age=2');
    expect((await get(`/live/${S}/${R}/index.m3u8`, { headers: { 'If-None-Match': '"v6"' } })).status).toBe(
      200,
    );
  });

  it('sets Cache-Control per object class, from the served manifest’s target duration', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2, targetSec: 4 });
    await putManifest(manifestName.master, { version: 1, msn: -1, part: -1, targetSec: 4 });
    await putManifest(manifestName.mpd, { version: 1, msn: 5, part: -1, targetSec: 6 });
    await putManifest(manifestName.dvr(R), { version: 1, msn: 5, part: -1, targetSec: 8 });
    await writeSegment(3, bytesOf('s'));
    const cc = async (path: string): Promise<[number, string | null]> => {
      const r = await get(path);
      return [r.status, r.headers.get('cache-control')];
    };
    expect(await cc(`/live/${S}/${R}/index.m3u8`)).toEqual([200, 'public, max-age=2']); // half of 4 s
    expect(await cc(`/live/${S}/${R}/index.m3u8?_HLS_msn=5&_HLS_part=1`)).toEqual([
      200,
      'public, max-age=12',
    ]);
    expect(await cc(`/live/${S}/master.m3u8`)).toEqual([200, 'public, max-age=5']);
    expect(await cc(`/live/${S}/manifest.mpd`)).toEqual([200, 'public, max-age=3']);
    expect(await cc(`/live/${S}/${R}/dvr.m3u8`)).toEqual([200, 'public, max-age=4']);
    expect(await cc(`/live/${S}/${R}/${objectName.segment(3)}`)).toEqual([
      200,
      'public, max-age=86400, immutable',
    ]);
    expect(await cc(`/live/${S}/${R}/${objectName.segment(2)}`)).toEqual([404, 'public, max-age=1']);
    expect(await cc(`/live/${S}/manifest-ll.mpd`)).toEqual([404, 'public, max-age=1']);
    expect(await cc('/time')).toEqual([200, 'no-store']);
  });

  it('answers a blocking reload at once when the playlist already has the part, without subscribing', async () => {
    await putManifest(manifestName.media(R), { version: 3, msn: 5, part: 2 });
    const r = await get(`/live/${S}/${R}/index.m3u8?_HLS_msn=5&_HLS_part=2`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('version 3');
    expect(store.events.listeners).toBe(0);
  });

  it('holds a blocking reload until a manifest event with a satisfying position arrives', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2 });
    const req = pending(`/live/${S}/${R}/index.m3u8?_HLS_msn=5&_HLS_part=3`);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    // Renders that do not reach 5.3 (or are another rendition's) do not release it.
    await putManifest(manifestName.media(R), { version: 2, msn: 5, part: 2 });
    await announce({
      t: 'manifest',
      s: S,
      v: 2,
      pos: { [R]: { msn: 5, part: 2 }, '240p': { msn: 6, part: 0 } },
    });
    await sleep(100);
    expect(req.done()).toBe(false);
    const body = await putManifest(manifestName.media(R), { version: 3, msn: 5, part: 3 });
    await announce({ t: 'manifest', s: S, v: 3, pos: { [R]: { msn: 5, part: 3 } } });
    const r = await req.result;
    expect(r.status).toBe(200);
    expect(r.text).toBe(body);
    expect(r.headers.get('etag')).toBe('"v3"');
    expect(r.headers.get('cache-control')).toBe('public, max-age=6');
    await until(() => store.events.listeners === 0, 'the subscription to close');
  });

  it('serves the skip playlist for _HLS_skip=YES', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2 });
    const skip = await putManifest(manifestName.mediaSkip(R), { version: 1, msn: 5, part: 2 });
    expect((await get(`/live/${S}/${R}/index.m3u8?_HLS_skip=YES`)).text).toBe(skip);
  });

  it('times out a blocking reload after three target durations with 503 and Retry-After', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2, targetSec: 0.1 });
    const t0 = Date.now();
    const r = await get(`/live/${S}/${R}/index.m3u8?_HLS_msn=6`);
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^BLOCKING_TIMEOUT: /);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2000);
    expect(store.events.listeners).toBe(0);
  });

  it('stops waiting when the client goes away', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2, targetSec: 10 });
    const ac = new AbortController();
    const req = get(`/live/${S}/${R}/index.m3u8?_HLS_msn=6`, { signal: ac.signal }).catch((e: Error) => e);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    ac.abort();
    expect(await req).toBeInstanceOf(Error);
    await until(() => store.events.listeners === 0, 'the subscription to close after the client left');
  });
});

/** `ss` (iproute2, which `npm test`'s setup installs) reads a listening socket's backlog back; Linux only. */
const hasSs = ((): boolean => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return existsSync('/proc/sys/net/core/somaxconn');
  } catch {
    return false;
  }
})();

describe('listening', () => {
  it.skipIf(!hasSs)(
    'listens with the configured backlog, kept by its extra acceptors, capped by net.core.somaxconn',
    async () => {
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      const port = await reader.listen(0, '127.0.0.1', { backlog: 1000 });
      try {
        expect(await acceptQueue(port)).toEqual({ queue: 0, backlog: Math.min(1000, somaxconn) });
        // With its default 32 handles, each of which listened again with that backlog.
        expect(lines.find((l) => l.msg === 'reader listening')).toMatchObject({ port, acceptors: 32 });
      } finally {
        await reader.close();
      }
    },
  );
});

describe('client errors', () => {
  it('400 for malformed directives and a URL too long, with the code in the body', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2 });
    for (const q of ['_HLS_part=1', '_HLS_msn=abc', '_HLS_msn=1&_HLS_msn=2', '_HLS_skip=MAYBE']) {
      const r = await get(`/live/${S}/${R}/index.m3u8?${q}`);
      expect([q, r.status, r.headers.get('cache-control')]).toEqual([q, 400, 'no-store']);
      expect(r.text).toMatch(/^BAD_DIRECTIVE: /);
    }
    const long = await get(`/live/${S}/${R}/index.m3u8?x=${'a'.repeat(3000)}`);
    expect(long.status).toBe(400);
    expect(long.text).toBe('BAD_REQUEST: bad request\n');
  });

  it('400 for an _HLS_msn more than two segments ahead of the playlist', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2 });
    const far = await get(`/live/${S}/${R}/index.m3u8?_HLS_msn=8`);
    expect(far.status).toBe(400);
    expect(far.text).toBe('MSN_TOO_FAR_AHEAD: _HLS_msn 8 is too far ahead of 5\n');
    expect(store.events.listeners).toBe(0);
  });

  it('404 for unknown URLs (before the store is asked), missing manifests and objects', async () => {
    expect((await get('/nope')).status).toBe(404);
    expect((await get(`/live/${S}/master.m3u8`)).status).toBe(404);
    expect((await get(`/live/${S}/${R}/${objectName.init(0)}`)).status).toBe(404);
    // A missing part is never held for HEAD.
    expect((await get(`/live/${S}/${R}/${objectName.part(5, 3)}`, { method: 'HEAD' })).status).toBe(404);
    store.unreachable = new StoreUnavailableError('down');
    const r = await get('/live/../../etc/passwd');
    expect(r.status).toBe(404);
    expect(r.text).toBe('NOT_FOUND: not found\n');
  });

  it('405 with Allow for other methods, 204 for a CORS preflight', async () => {
    const r = await get(`/live/${S}/master.m3u8`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect(r.text).toMatch(/^METHOD_NOT_ALLOWED: /);
    const pre = await get(`/live/${S}/master.m3u8`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET, HEAD, OPTIONS');
  });
});

describe('media objects', () => {
  it('200, HEAD, 206 for a Range, 304 for its ETag and 416 past the end', async () => {
    const seg = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
    await writeSegment(4, seg);
    const path = `/live/${S}/${R}/${objectName.segment(4)}`;
    const full = await get(path);
    expect(full.status).toBe(200);
    expect(full.bytes.equals(seg)).toBe(true);
    expect(full.headers.get('content-type')).toBe('video/iso.segment');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    const head = await get(path, { method: 'HEAD' });
    expect([head.status, head.bytes.length, head.headers.get('content-length')]).toEqual([200, 0, '300']);
    const range = await get(path, { headers: { Range: 'bytes=10-99' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 10-99/300');
    expect(range.bytes.equals(seg.subarray(10, 100))).toBe(true);
    const notModified = await get(path, { headers: { 'If-None-Match': full.headers.get('etag')! } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    const past = await get(path, { headers: { Range: 'bytes=305-' } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */300');
    expect(past.text).toMatch(/^RANGE_NOT_SATISFIABLE: /);
  });

  it('holds the preload-hinted part until it is written and announced', async () => {
    await writePart(5, 0, bytesOf('a'));
    await writePart(5, 1, bytesOf('b'));
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 1 });
    const req = pending(`/live/${S}/${R}/${objectName.part(5, 2)}`);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    await announce({ t: 'part', s: S, r: '240p', msn: 5, i: 2 }); // another rendition's part: not this one
    await sleep(50);
    expect(req.done()).toBe(false);
    const bytes = bytesOf('c', 80);
    await writePart(5, 2, bytes);
    await announce({ t: 'part', s: S, r: R, msn: 5, i: 2 });
    const r = await req.result;
    expect(r.status).toBe(200);
    expect(r.bytes.equals(bytes)).toBe(true);
    expect(r.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
  });

  it('404 for a hinted part whose segment closed first, and for a part not at the live edge', async () => {
    await writePart(5, 0, bytesOf('a'));
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 0 });
    expect((await get(`/live/${S}/${R}/${objectName.part(5, 7)}`)).status).toBe(404);
    const req = pending(`/live/${S}/${R}/${objectName.part(5, 1)}`);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    await writeSegment(5, bytesOf('a'));
    await announce({ t: 'seg', s: S, r: R, msn: 5 });
    expect((await req.result).status).toBe(404);
  });

  it('streams an in-progress segment part by part and completes it when the segment is announced', async () => {
    const p = [bytesOf('a', 100), bytesOf('b', 100), bytesOf('c', 100)];
    await writePart(7, 0, p[0]!);
    await writePart(7, 1, p[1]!);
    await putManifest(manifestName.media(R), { version: 1, msn: 7, part: 1 });
    const res = await fetch(`${base}/live/${S}/${R}/${objectName.segment(7)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    const body = res.body!.getReader();
    let got = Buffer.alloc(0);
    const readAtLeast = async (n: number): Promise<void> => {
      while (got.length < n) {
        const c = await body.read();
        if (c.done) throw new Error(`ended at ${got.length} bytes, wanted ${n}`);
        got = Buffer.concat([got, c.value]);
      }
    };
    // The parts already written arrive before the segment exists.
    await readAtLeast(200);
    expect(got.equals(Buffer.concat([p[0]!, p[1]!]))).toBe(true);
    await writePart(7, 2, p[2]!);
    await announce({ t: 'part', s: S, r: R, msn: 7, i: 2 });
    await readAtLeast(300);
    expect(got.subarray(200).equals(p[2]!)).toBe(true);
    // The closed segment may end with bytes after its last part; the response completes with them.
    const whole = Buffer.concat([...p, bytesOf('z', 10)]);
    await writeSegment(7, whole);
    await announce({ t: 'seg', s: S, r: R, msn: 7 });
    for (;;) {
      const c = await body.read();
      if (c.done) break;
      got = Buffer.concat([got, c.value]);
    }
    expect(got.equals(whole)).toBe(true);
    await until(() => store.events.listeners === 0, 'the subscription to close');
  });

  it('holds a segment two ahead of the newest until it lands (a clock-derived DASH request), 404 three ahead', async () => {
    await writePart(7, 0, bytesOf('a'));
    await putManifest(manifestName.media(R), { version: 1, msn: 7, part: 0 });
    expect((await get(`/live/${S}/${R}/${objectName.segment(10)}`)).status).toBe(404);
    const req = pending(`/live/${S}/${R}/${objectName.segment(9)}`);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    const seg = bytesOf('n', 50);
    await writePart(9, 0, seg);
    await announce({ t: 'part', s: S, r: R, msn: 9, i: 0 });
    await writeSegment(9, seg);
    await announce({ t: 'seg', s: S, r: R, msn: 9 });
    const res = await req.result;
    expect(res.status).toBe(200);
    expect(res.text).toBe(seg.toString());
  });

  it('404 for an in-progress segment the stream moves past before it starts', async () => {
    await writePart(7, 0, bytesOf('a'));
    await putManifest(manifestName.media(R), { version: 1, msn: 7, part: 0 });
    const req = pending(`/live/${S}/${R}/${objectName.segment(8)}`);
    await until(() => store.events.listeners === 1, 'the request to subscribe');
    await announce({ t: 'part', s: S, r: R, msn: 9, i: 0 });
    expect((await req.result).status).toBe(404);
  });
});

describe('server errors', () => {
  it('503 with Retry-After, quickly, when the store is unreachable; counted as a store error', async () => {
    await putManifest(manifestName.media(R), { version: 1, msn: 5, part: 2 });
    store.unreachable = new StoreUnavailableError('connection refused');
    for (const path of [
      `/live/${S}/${R}/index.m3u8`,
      `/live/${S}/${R}/index.m3u8?_HLS_msn=6`,
      `/live/${S}/${R}/${objectName.segment(1)}`,
      '/readyz',
      '/streams',
    ]) {
      const t0 = Date.now();
      const r = await get(path);
      expect([path, r.status, r.headers.get('retry-after')]).toEqual([path, 503, '1']);
      expect(r.text).toBe('STORE_UNAVAILABLE: origin storage unavailable\n');
      expect(Date.now() - t0).toBeLessThan(500);
    }
    const errors = (await metrics.redisErrors.get()).values.reduce((n, v) => n + v.value, 0);
    expect(errors).toBe(5);
    // One log line for the outage, not one per request; and one when it is over.
    expect(lines.filter((l) => String(l.msg).includes('unreachable'))).toHaveLength(1);
    store.unreachable = undefined;
    expect((await get(`/live/${S}/${R}/index.m3u8`)).status).toBe(200);
    expect(lines.filter((l) => String(l.msg).includes('reachable again'))).toHaveLength(1);
    // An error of any other kind set as the outage is still an outage (the adapter wraps it).
    store.unreachable = new Error('socket hang up');
    expect((await get(`/live/${S}/${R}/index.m3u8`)).status).toBe(503);
  });

  it('500 for an unexpected error, logged once with its stack and URL, not counted as a store error', async () => {
    const broken: ManifestStore = {
      read: () => {
        throw new TypeError('manifests.read is broken');
      },
      store: (...a) => store.manifests.store(...a),
    };
    base = await start(broken);
    const r = await get(`/live/${S}/${R}/index.m3u8?_HLS_msn=1`);
    expect(r.status).toBe(500);
    expect(r.text).toBe('INTERNAL: internal error\n');
    expect(r.headers.get('retry-after')).toBeNull();
    expect(r.headers.get('cache-control')).toBe('no-store');
    const logged = lines.filter((l) => l.msg === 'request failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.level).toBe(50);
    expect(logged[0]!.url).toBe(`/live/${S}/${R}/index.m3u8?_HLS_msn=1`);
    expect(String((logged[0]!.err as { stack: string }).stack)).toMatch(
      /^TypeError: manifests.read is broken/,
    );
    expect((await metrics.redisErrors.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);
    const counted = (await metrics.httpRequests.get()).values.find((v) => v.labels.status === 500);
    expect(counted?.value).toBe(1);
  });
});

describe('operational routes', () => {
  it('answers /time, /healthz, /readyz, /streams, /metrics and the page', async () => {
    await store.streams.mark(
      S,
      { segmentSec: 2, partSec: 0.5, windowSec: 30, dvrWindowSec: 600 },
      'live',
      1e12,
    );
    const time = await get('/time');
    expect(Math.abs(Date.parse(time.text) - Date.now())).toBeLessThan(5000);
    expect((await get('/healthz')).text).toBe('ok\n');
    expect((await get('/readyz')).text).toBe('ready\n');
    const streams = JSON.parse((await get('/streams')).text) as {
      streams: Array<{ name: string; state: string }>;
    };
    expect(streams.streams).toEqual([expect.objectContaining({ name: S, state: 'live' })]);
    expect((await get('/metrics')).text).toContain('wellspring_http_requests_total');
    const page = await get('/');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  });

  it('listens and closes (the factory’s own server)', async () => {
    const port = await reader.listen(0, '127.0.0.1');
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(r.status).toBe(200);
    await reader.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
