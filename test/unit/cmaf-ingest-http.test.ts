/**
 * CMAF ingest over HTTP, in process: the source's mount on a loopback server, the ingest over the memory store,
 * fixtures/h264.mp4 (a CMAF track: 10 fragments of 200 ms, a keyframe every second) as the sender's media.
 * One-segment-per-request senders, two interleaved redundant senders, and refusals.
 */
import { readFileSync } from 'node:fs';
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { CmafStreamReader } from '../../src/core/index.js';
import { IngestService } from '../../src/ingest/ingest-service.js';
import type { CmafSource } from '../../src/ingest/sources/cmaf/index.js';
import { createMetrics } from '../../src/metrics.js';
import { MemoryRenderQueue } from '../../src/queue/memory.js';
import { MemoryStore } from '../../src/store/memory/index.js';

const KEY = 'unit-cmaf-key-1';
const media = new CmafStreamReader().push(readFileSync(new URL('../../fixtures/h264.mp4', import.meta.url)));
const header = media.find((e) => e.kind === 'init')!.bytes;
const fragments = media.filter((e) => e.kind === 'chunk').map((e) => e.bytes);

let ingest: IngestService | undefined;
let server: Server | undefined;
let store: MemoryStore;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await ingest?.stop();
  ingest = server = undefined;
});

async function start(auth: Record<string, unknown> = {}): Promise<string> {
  store = new MemoryStore();
  const config = parseConfig({
    redisUrl: 'redis://127.0.0.1:1',
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    cmafIngest: { idleEndMs: 500 },
    defaults: { segmentSec: 1, partSec: 0.2 },
    streams: [{ name: 'cam', key: KEY, ingest: { type: 'cmaf', tracks: ['video'] } }],
    auth: { publish: auth },
  });
  ingest = new IngestService(config, {
    store,
    queue: new MemoryRenderQueue(),
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
  });
  await ingest.start();
  const [mount] = ingest.httpMounts();
  server = createServer((req, res) => void mount!.handler(req, res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One request; `body` chunks are written one by one (a chunked upload). */
function post(
  host: string,
  path: string,
  body: Uint8Array[],
  headers: Record<string, string> = {},
): Promise<number> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port: Number(port), path, method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    for (const b of body) req.write(b);
    req.end();
  });
}

async function segmentsWhenEnded() {
  const until = Date.now() + 10_000;
  while (ingest!.sessions.has('cam') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const state = await store.streams.readState('cam');
  const { snaps } = await store.media.loadTimelines('cam', state, 10_000, 10_000);
  return snaps.get('video')!.segments;
}

describe('CMAF ingest over HTTP (memory store)', () => {
  it('one segment per request: the header first, then each fragment in its own request', async () => {
    const host = await start();
    const path = `/ingest/cam/video.cmfv?key=${KEY}`;
    expect(await post(host, path, [])).toBe(200);
    expect(await post(host, path, [header])).toBe(200);
    for (const f of fragments) expect(await post(host, path, [f])).toBe(200);
    // No request for idleEndMs: the publication ends and closes its open segment.
    const segs = await segmentsWhenEnded();
    expect(segs.map((s) => s.durationTicks)).toEqual([15360, 15360]);
    expect(segs[0]!.parts.map((p) => p.durationTicks)).toEqual([3072, 3072, 3072, 3072, 3072]);
    expect(segs.every((s) => !s.discontinuity)).toBe(true);
  });

  it('two senders with the same fragments interleaved: each media time kept once, the rest counted', async () => {
    const host = await start();
    const path = `/ingest/cam/Streams(video.cmfv)?key=${KEY}`;
    // A (a long-running request, still open) sends the first 4 fragments; B sends all 10 while A is open.
    const cmaf = ingest!.sources.find((s) => s.kind === 'cmaf') as CmafSource;
    const [hostname, port] = host.split(':');
    let aStatus = 0;
    let aEnd: () => void = () => undefined;
    const aDone = new Promise<void>((resolve) => {
      const a = request({ hostname, port: Number(port), path, method: 'POST' }, (res) => {
        aStatus = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => resolve());
      });
      for (const b of [header, ...fragments.slice(0, 4)]) a.write(b);
      aEnd = () => a.end();
    });
    const until = Date.now() + 5000;
    while (!ingest!.sessions.has('cam') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(await post(host, path, [header, ...fragments])).toBe(200);
    expect(cmaf.publication('cam')).toMatchObject({ duplicates: 4, misaligned: 0 });
    aEnd();
    await aDone;
    expect(aStatus).toBe(200);
    const segs = await segmentsWhenEnded();
    expect(segs.map((s) => s.durationTicks)).toEqual([15360, 15360]);
    expect(segs.every((s) => !s.discontinuity)).toBe(true);
  });

  it('refuses a fragment before any header (412), bytes that are not CMAF (415), a wrong key (403)', async () => {
    const host = await start();
    expect(await post(host, `/ingest/cam/video.cmfv?key=${KEY}`, [fragments[0]!])).toBe(412);
    expect(
      await post(host, `/ingest/cam/video.cmfv?key=${KEY}`, [Buffer.from('GIF89a not an mp4 file')]),
    ).toBe(415);
    expect(await post(host, `/ingest/cam/video.cmfv?key=wrong-key-99`, [header])).toBe(403);
    expect(await post(host, `/ingest/other/video.cmfv?key=${KEY}`, [header])).toBe(404);
  });

  it('goes through the publish authorizer (issue #12): a hook refusal is a 403, a JWT publishes', async () => {
    const bodies: Array<Record<string, unknown>> = [];
    const hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(b) as Record<string, unknown>);
        res.statusCode = 403;
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const secret = 'cmaf-unit-jwt-secret-0123456789';
      const host = await start({
        hook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth` },
        jwt: { secret },
      });
      // Not a configured key: the hook is asked (with the address, protocol and query) and refuses.
      expect(await post(host, '/ingest/cam/video.cmfv?key=hook-says-no&x=1', [header])).toBe(403);
      expect(bodies).toEqual([
        {
          action: 'publish',
          protocol: 'cmaf',
          stream: 'cam',
          key: 'hook-says-no',
          remoteAddr: '127.0.0.1',
          query: { key: 'hook-says-no', x: '1' },
        },
      ]);
      expect(ingest!.sessions.has('cam')).toBe(false);
      // A publish token for a stream the config does not list, as a Bearer credential: accepted and published.
      const token = await new SignJWT({ stream: 'live7', action: 'publish' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) + 60)
        .sign(new TextEncoder().encode(secret));
      const bearer = { Authorization: `Bearer ${token}` };
      expect(await post(host, '/ingest/live7/video.cmfv', [header], bearer)).toBe(200);
      expect(ingest!.sessions.has('live7')).toBe(true);
      for (const f of fragments.slice(0, 3))
        expect(await post(host, '/ingest/live7/video.cmfv', [f], bearer)).toBe(200);
      // While it lives, a request with another credential is refused; the token for another stream too.
      expect(await post(host, '/ingest/live7/video.cmfv?key=other', [fragments[3]!])).toBe(403);
      expect(await post(host, '/ingest/live8/video.cmfv', [header], bearer)).toBe(403);
      // The configured key still works for its stream.
      expect(await post(host, `/ingest/cam/video.cmfv?key=${KEY}`, [header])).toBe(200);
    } finally {
      hook.closeAllConnections();
      await new Promise((r) => hook.close(r));
    }
  });
});
