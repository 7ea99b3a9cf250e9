/**
 * The release of held requests (issues #13, #15), in process over the memory store with real HTTP connections:
 * many blocking reloads (and preload-hinted part requests) held on one reader, released by one event. What is
 * asserted: one store read per release, every released client gets the same bytes, nobody is released by a
 * render that does not reach their part, and the reader's own release timing (release.ts) is recorded.
 */
import {
  Agent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
  request,
} from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';
import pino from 'pino';
import type { Histogram } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manifestName, objectName, type PartEntry, type SegmentEntry } from '../../src/core/index.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { ManifestReads, Playlists } from '../../src/reader/playlists.js';
import { createReader, type Reader } from '../../src/reader/reader.js';
import { toReaderError } from '../../src/reader/errors.js';
import { type Exchange, sendError } from '../../src/reader/respond.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { ManifestStore, MediaStore, StoredManifest } from '../../src/store/ports.js';

const S = 'cam';
const R = '360p';
const NAME = manifestName.media(R);

let store: MemoryStore;
let metrics: Metrics;
let servers: Server[];
let agent: Agent;

beforeEach(() => {
  store = new MemoryStore();
  metrics = createMetrics();
  servers = [];
  agent = new Agent({ keepAlive: true, maxSockets: Infinity });
});

afterEach(async () => {
  agent.destroy();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await store.close();
});

/** A store port wrapped to count calls and calls still running (the memory store underneath is real). */
function counting<T extends object>(inner: T, method: keyof T): T & { calls: number; running: number } {
  const c = { calls: 0, running: 0 };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'calls') return c.calls;
      if (prop === 'running') return c.running;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== method || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) => {
        c.calls++;
        c.running++;
        return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args).finally(() => c.running--);
      };
    },
  }) as T & { calls: number; running: number };
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

interface Answer {
  status: number;
  body: Buffer;
}

function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function putManifest(o: { version: number; msn: number; part: number }): Promise<string> {
  const body = `#EXTM3U\n# version ${o.version} at ${o.msn}.${o.part}\n${'#EXT-X-PART filler\n'.repeat(40)}`;
  const m: StoredManifest & { name: string } = { name: NAME, ...o, body, targetSec: 2, renderedAt: 1e12 };
  await store.manifests.store(S, [m], 60);
  return body;
}

/** Waits until the reader has timed `reloads` releases in `batches` batches (and no more). */
async function settled(reloads: number, batches: number): Promise<void> {
  await vi.waitFor(
    async () => {
      expect(await observations(metrics.readerRelease)).toBe(reloads);
      expect(await observations(metrics.readerReleaseSpread)).toBe(batches);
    },
    { timeout: 10_000, interval: 5 },
  );
}

/** Count of a histogram's observations. */
async function observations(h: Histogram): Promise<number> {
  const v = await h.get();
  return v.values.find((x) => x.metricName?.endsWith('_count'))?.value ?? 0;
}

describe('blocking reload release', () => {
  it('answers every waiter a render satisfies from one store read, with the same bytes, and nobody early', async () => {
    const manifests = counting<ManifestStore>(store.manifests, 'read');
    const playlists = new Playlists({ reads: new ManifestReads(manifests), events: store.events });
    const base = await listen((req, res) => {
      const x: Exchange = { req, res, metrics };
      const q = new URL(req.url!, 'http://x').searchParams;
      playlists
        .blocking(x, {
          stream: S,
          rendition: R,
          name: NAME,
          directives: { msn: Number(q.get('msn')), part: Number(q.get('part')), skip: false },
        })
        .catch((err: unknown) => sendError(x, toReaderError(err)));
    });
    await putManifest({ version: 1, msn: 10, part: 2 });
    const N = 200;
    const LATER = 50;
    const first = Array.from({ length: N }, () => get(`${base}/?msn=10&part=3`));
    const later = Array.from({ length: LATER }, () => get(`${base}/?msn=10&part=4`));
    let answered = 0;
    for (const p of [...first, ...later]) void p.then(() => answered++);
    await until(() => playlists.held === N + LATER, 'every reload to be held');
    await until(() => manifests.running === 0, 'the reads of the held reloads');
    await tick();

    // An event that claims part 3 while the stored render only reaches part 2 (a stale read): one read, no answer.
    let reads = manifests.calls;
    await putManifest({ version: 2, msn: 10, part: 2 });
    await store.events.publish({ t: 'manifest', s: S, v: 2, pos: { [R]: { msn: 10, part: 3 } } });
    await until(() => manifests.calls === reads + 1 && manifests.running === 0, 'the release read');
    await tick();
    expect(playlists.held).toBe(N + LATER);
    expect(await observations(metrics.readerRelease)).toBe(0);
    expect(answered).toBe(0);

    // Part 3: the 200 waiting for it are answered from one read; the 50 waiting for part 4 keep waiting.
    reads = manifests.calls;
    const body3 = await putManifest({ version: 3, msn: 10, part: 3 });
    await store.events.publish({ t: 'manifest', s: S, v: 3, pos: { [R]: { msn: 10, part: 3 } } });
    const got = await Promise.all(first);
    expect(manifests.calls).toBe(reads + 1);
    for (const g of got) {
      expect(g.status).toBe(200);
      expect(g.body.equals(got[0]!.body)).toBe(true);
    }
    expect(got[0]!.body.toString()).toBe(body3);
    expect(playlists.held).toBe(LATER);
    await until(() => answered === N, 'the first answers counted');
    await tick();
    expect(answered).toBe(N);
    // Timed by the reader: one observation per released reload, one spread per release (an answer the socket
    // could not take at once is timed when Node reports it written, hence the wait).
    await settled(N, 1);

    // Part 4: the rest, again from one read.
    reads = manifests.calls;
    const body4 = await putManifest({ version: 4, msn: 10, part: 4 });
    await store.events.publish({ t: 'manifest', s: S, v: 4, pos: { [R]: { msn: 10, part: 4 } } });
    const rest = await Promise.all(later);
    expect(manifests.calls).toBe(reads + 1);
    for (const g of rest) expect(g.body.toString()).toBe(body4);
    expect(playlists.held).toBe(0);
    await settled(N + LATER, 2);
    // Every observation is a time from the event to a write: non-negative, and the spread within it.
    const sum = (await metrics.readerRelease.get()).values.find((x) => x.metricName?.endsWith('_sum'))!.value;
    expect(sum).toBeGreaterThan(0);
  });
});

describe('preload-hinted part release', () => {
  const TICKS = 1000;
  const partEntry = (msn: number, index: number, n: number): PartEntry => ({
    msn,
    index,
    startTicks: (msn * 4 + index) * TICKS,
    durationTicks: TICKS,
    independent: index === 0,
    byteLength: n,
  });
  const open = (msn: number, parts: PartEntry[]): SegmentEntry => ({
    msn,
    discontinuitySeq: 0,
    discontinuity: false,
    initId: 0,
    startTicks: msn * 4 * TICKS,
    durationTicks: parts.length * TICKS,
    independent: true,
    byteLength: parts.reduce((n, p) => n + p.byteLength, 0),
    wallClockMs: 1e12,
    periodStartTicks: 0,
    periodWallClockMs: 1e12,
    parts,
  });

  /**
   * A reader over the memory store with its media reads counted, and segment 10 open with parts 0-2 stored and
   * listed: part 10.3 is the preload-hinted one.
   */
  async function hinting(): Promise<{
    media: MediaStore & { calls: number; running: number };
    base: string;
    parts: PartEntry[];
  }> {
    const media = counting<MediaStore>(store.media, 'getObject');
    const reader: Reader = createReader({
      store: { media, manifests: store.manifests, streams: store.streams, health: store.health },
      events: store.events,
      metrics,
      log: pino({ level: 'silent' }),
    });
    const base = await listen(reader.handle);
    const parts: PartEntry[] = [];
    for (let i = 0; i < 3; i++) {
      parts.push(partEntry(10, i, 64));
      await store.media.publishPart(S, R, parts.at(-1)!, open(10, parts), Buffer.alloc(64, i), {
        partSec: 60,
        openSec: 60,
      });
    }
    await putManifest({ version: 1, msn: 10, part: 2 });
    return { media, base, parts };
  }

  it('answers every request for the hinted part from one store read once the part is announced', async () => {
    const { media, base, parts } = await hinting();
    const N = 150;
    const held = Array.from({ length: N }, () => get(`${base}/live/${S}/${R}/${objectName.part(10, 3)}`));
    let answered = 0;
    for (const p of held) void p.then(() => answered++);
    await until(() => store.events.listeners === N, 'every hinted request to wait');
    await until(() => media.running === 0, 'their store reads');
    await tick();
    expect(answered).toBe(0);

    // Another part of the segment (the one before) announced again: nobody answered, nothing read.
    let reads = media.calls;
    await store.events.publish({ t: 'part', s: S, r: R, msn: 10, i: 2 });
    await tick();
    await tick();
    expect(media.calls).toBe(reads);
    expect(answered).toBe(0);

    reads = media.calls;
    const bytes = Buffer.alloc(900, 'z');
    parts.push(partEntry(10, 3, bytes.length));
    await store.media.publishPart(S, R, parts.at(-1)!, open(10, parts), bytes, { partSec: 60, openSec: 60 });
    await store.events.publish({ t: 'part', s: S, r: R, msn: 10, i: 3 });
    const got = await Promise.all(held);
    for (const g of got) {
      expect(g.status).toBe(200);
      expect(g.body.equals(bytes)).toBe(true);
    }
    // One read for all of them (before: one per request).
    expect(media.calls).toBe(reads + 1);
    await until(() => store.events.listeners === 0, 'the watches to close');
  });

  it('requests for a part not there yet that arrive in one loop turn share their store reads', async () => {
    const { media, base: url, parts } = await hinting();
    const base = new URL(url);
    let accepted = 0;
    servers[0]!.on('connection', () => accepted++);
    // N keep-alive connections, accepted and idle (the server accepts one per loop turn).
    const N = 100;
    const socks = await Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const c = connect(Number(base.port), base.hostname, () => resolve(c));
            c.on('error', reject);
          }),
      ),
    );
    await until(() => accepted === N, 'every connection accepted');
    let answered = 0;
    // Each answer: its head and as many body bytes as its Content-Length says.
    const answers = socks.map(
      (c) =>
        new Promise<{ head: string; body: string }>((resolve) => {
          let text = '';
          c.on('data', (d: Buffer) => {
            text += d.toString('latin1');
            const end = text.indexOf('\r\n\r\n');
            const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
            if (end >= 0 && text.length >= end + 4 + length) {
              answered++;
              resolve({ head: text.slice(0, end), body: text.slice(end + 4) });
            }
          });
        }),
    );
    // Every request in the kernel before the server's loop runs again: one poll phase reads them all.
    const path = `/live/${S}/${R}/${objectName.part(10, 3)}`;
    for (const c of socks) c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const end = Date.now() + 50;
    while (Date.now() < end); // keep the loop from turning while the requests land
    await until(() => store.events.listeners === N, 'every hinted request to wait');
    // Each request reads the part twice before it waits (on arrival, and once its watch is live): 2N reads
    // when each goes to the store itself, a handful when a turn's requests share them.
    await until(() => media.calls >= 2 && media.running === 0, 'their store reads');
    await tick();
    await tick();
    expect(media.calls).toBeLessThanOrEqual(4);
    expect(answered).toBe(0);

    // Released by the part's event: one read, sent at once.
    const reads = media.calls;
    const bytes = Buffer.alloc(900, 'z');
    parts.push(partEntry(10, 3, bytes.length));
    await store.media.publishPart(S, R, parts.at(-1)!, open(10, parts), bytes, { partSec: 60, openSec: 60 });
    await store.events.publish({ t: 'part', s: S, r: R, msn: 10, i: 3 });
    for (const a of await Promise.all(answers)) {
      expect(a.head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      expect(a.body).toBe('z'.repeat(900));
    }
    expect(media.calls).toBe(reads + 1);
    for (const c of socks) c.destroy();
  });
});
