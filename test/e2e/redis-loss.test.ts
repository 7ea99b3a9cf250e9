/**
 * Redis loses everything (restarted without persistence, or flushed), issue #13:
 * (a) while the encoder stays connected: the stream is back by itself within 5 s of Redis being back (the ingest
 *     marks it live again and re-sends its init segments), and its numbers never go below what was published;
 * (b) while the encoder is away: the reconnect numbers above everything published before (clock floor), so no
 *     immutable URL names two different objects, in the reader's cache or in a fresh reader.
 * (c) the same restart with `appendonly yes`: nothing lost, back within 5 s.
 * A player-like viewer (tools/viewer) follows the LL-HLS playlist through Varnish throughout, and issue #13's
 * acceptance rules are checked over what it saw: 503 (with Retry-After) only while Redis is down, nothing
 * backwards, no URL answering two different bodies, media again within 5 s of Redis being back.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { type EmbeddedRedis, startRedisServer } from '../../tools/process/redis-server.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { acceptance, summary, Viewer } from '../../tools/viewer/viewer.js';
import { createMetrics } from '../../src/metrics.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, type Encoder, rtmpEncoder, sleep, testConfig, waitFor } from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

const template = join(
  fileURLToPath(new URL('../../', import.meta.url)),
  'deploy/varnish/wellspring.vcl.template',
);
let redis: EmbeddedRedis | undefined;
let aof: EmbeddedRedis | undefined;
const nodes: NodeHandle[] = [];
const encoders: Encoder[] = [];
const cdns: EmbeddedCdn[] = [];
const viewers: Viewer[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const v of viewers) await v.stop();
  for (const e of encoders) await e.stop();
  for (const n of nodes) await n.stop();
  for (const c of cdns) await c.stop();
  await redis?.stop();
  await aof?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Varnish in front of the node's reader, and a viewer of the 360p LL-HLS playlist through it, receiving media. */
async function viewerThroughCdn(node: NodeHandle): Promise<{ v: Viewer; cdn: EmbeddedCdn }> {
  const cdn = await startVarnishCdn([node.httpPort!], template);
  cdns.push(cdn);
  const v = new Viewer({ url: `${cdn.url}/live/cam/360p/index.m3u8` }).start();
  viewers.push(v);
  await v.waitForMedia(0, 30_000);
  return { v, cdn };
}

interface Seen {
  mediaSequence: number;
  newest: number;
  uris: string[];
}

async function playlist(url: string): Promise<Seen | undefined> {
  const r = await get(url);
  if (r.status !== 200) return undefined;
  const text = r.body.toString();
  const m = m3u8(text);
  if (m.segments.length === 0) return undefined;
  const uris = [
    ...text.split('\n').filter((l) => l.length > 0 && !l.startsWith('#')),
    // Init and part URIs (not preload hints: those name objects that may never exist).
    ...[...text.matchAll(/^#EXT-X-(?:MAP|PART):.*URI="([^"]+)"/gm)].map((x) => x[1]!),
  ];
  return { mediaSequence: m.mediaSequence, newest: m.mediaSequence + m.segments.length - 1, uris };
}

it('Redis restarted empty, then flushed while the encoder is away: back within 5 s, numbers never go back, no URL reused', async () => {
  redis = await startRedisServer();
  const port = redis.port;
  const config = testConfig({ redisUrl: redis.url }); // the lean TEST_LADDER: 360p, 240p, audio
  const { log, lines } = captureLogger();
  const node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  nodes.push(node);
  const base = `http://127.0.0.1:${node.httpPort}/live/cam`;
  const rtmp = `rtmp://127.0.0.1:${node.rtmpPort}/live/cam`;
  const enc = rtmpEncoder(rtmp, 32);
  encoders.push(enc);
  await waitFor(() => playlist(`${base}/360p/index.m3u8`), 30_000, 'stream live');
  const { v, cdn } = await viewerThroughCdn(node);
  await sleep(2000);
  const before = (await playlist(`${base}/360p/index.m3u8`))!;

  // (a) Redis restarted without persistence while the encoder stays connected.
  const down = v.mark('redis stopped');
  await redis.stop();
  await sleep(2000);
  expect((await get(`${base}/360p/index.m3u8`)).status).toBe(503);
  redis = await startRedisServer({ port });
  const up = v.mark('redis back, empty');
  const backAt = performance.now();
  const first = await waitFor(() => playlist(`${base}/360p/index.m3u8`), 15_000, 'playlist back');
  const backMs = performance.now() - backAt;
  expect(backMs).toBeLessThan(5000);
  expect(enc.child.exitCode).toBeNull();
  expect(lines.some((l) => l.msg === 're-publishing the stream settings and init segments')).toBe(true);
  // For a few seconds more, every playlist (each rendition, and the multivariant one) moves on from `before`.
  let last = first;
  for (const t0 = performance.now(); performance.now() - t0 < 6000; await sleep(300)) {
    for (const r of ['360p', '240p', 'audio']) {
      const p = await playlist(`${base}/${r}/index.m3u8`);
      expect(p, `${r} playlist after the restart`).toBeDefined();
      expect(p!.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence);
      expect(p!.newest).toBeGreaterThanOrEqual(before.newest);
      if (r === '360p') {
        expect(p!.mediaSequence).toBeGreaterThanOrEqual(last.mediaSequence);
        last = p!;
      }
    }
  }
  expect(last.newest).toBeGreaterThan(before.newest);
  expect((await get(`${base}/master.m3u8`)).status).toBe(200);
  for (const u of first.uris.filter((u) => !u.includes('part')))
    expect((await get(`${base}/360p/${u}`)).status, u).toBe(200);

  // Flushed under the live encoder with no outage for the publisher to notice: the first segment write finds the
  // stream's settings and init gone (a negated version) and the ingest re-publishes them.
  const lastBeforeFlush = last;
  const flushed = v.mark('redis flushed under the live encoder');
  execFileSync('redis-cli', ['-p', String(port), 'flushall']);
  const flushedAt = performance.now();
  await sleep(300);
  const refilled = await waitFor(
    async () => {
      const p = await playlist(`${base}/360p/index.m3u8`);
      return p && p.newest > lastBeforeFlush.newest ? p : undefined;
    },
    15_000,
    'playlist back after a flush',
  );
  const flushBackMs = performance.now() - flushedAt;
  expect(flushBackMs).toBeLessThan(5000);
  expect(refilled.mediaSequence).toBeGreaterThanOrEqual(lastBeforeFlush.mediaSequence);

  // (b) The encoder leaves; Redis is flushed behind the product's back; the encoder comes back.
  const wiped = (await playlist(`${base}/360p/index.m3u8`))!;
  const away = v.mark('encoder gone');
  await enc.stop();
  await sleep(1500);
  const old = new Map<string, Buffer>();
  const beforeWipe = (await playlist(`${base}/360p/index.m3u8`))!;
  for (const u of new Set([...wiped.uris, ...beforeWipe.uris])) {
    const r = await get(`${base}/360p/${u}`); // served (and cached in process) by the reader
    if (r.status === 200) old.set(u, r.body);
  }
  expect(old.size).toBeGreaterThan(5);
  const wipedAt = v.mark('redis flushed while the encoder is away');
  execFileSync('redis-cli', ['-p', String(port), 'flushall']);
  const enc2 = rtmpEncoder(rtmp, 20);
  encoders.push(enc2);
  const reconnected = v.mark('encoder back');
  const after = await waitFor(
    async () => {
      const p = await playlist(`${base}/360p/index.m3u8`);
      return p && p.newest > beforeWipe.newest + 2 ? p : undefined;
    },
    30_000,
    'stream back after the wipe',
  );
  expect(after.mediaSequence).toBeGreaterThan(beforeWipe.newest);
  expect(after.uris.filter((u) => old.has(u))).toEqual([]);
  // Every URL served before the wipe: the same bytes as before or 404, from this reader (its in-process cache)
  // and from a fresh reader (the store alone).
  const fresh = await startNode(config, ['reader'], log, createMetrics());
  nodes.push(fresh);
  for (const b of [base, `http://127.0.0.1:${fresh.httpPort}/live/cam`]) {
    for (const [u, bytes] of old) {
      const r = await get(`${b}/360p/${u}`);
      expect([200, 404], `${b} ${u}`).toContain(r.status);
      if (r.status === 200) expect(r.body.equals(bytes), `${b} ${u} bytes`).toBe(true);
    }
  }
  // What the viewer fetched through Varnish, asked again through Varnish and at the reader: never other bytes.
  await sleep(1000);
  const viaCdn = await v.recheck({ all: true, expectPresent: false });
  const atReader = await v.recheck({
    all: true,
    expectPresent: false,
    base: `http://127.0.0.1:${node.httpPort}`,
  });
  const rep = await v.stop();
  const firstBack = rep.mediaArrivals.find((t) => t > up)! - up;
  console.log(
    `redis-loss viewer: media ${firstBack} ms after Redis came back empty, ` +
      `${rep.mediaArrivals.find((t) => t > flushed)! - flushed} ms after a flush; ` +
      `${viaCdn.checked} objects re-checked through Varnish and at the reader;`,
    JSON.stringify(summary(rep)),
  );
  expect(viaCdn.changed).toEqual([]);
  expect(atReader.changed).toEqual([]);
  expect(
    acceptance(rep, {
      storeOutages: [{ from: down, to: up }],
      storeWipes: [up, flushed, wipedAt],
      encoderAway: [{ from: away, to: reconnected }],
      recoveries: [
        { after: up, withinMs: 5000, what: 'Redis back (empty), encoder connected' },
        { after: flushed, withinMs: 5000, what: 'Redis flushed, encoder connected' },
      ],
    }),
  ).toEqual([]);
  await cdn.stop();
  await enc2.stop();
  await node.stop();
  await fresh.stop();
  nodes.length = 0;
  console.log(
    `redis-loss: playlist back ${Math.round(backMs)} ms after Redis restarted, ${Math.round(flushBackMs)} ms after a flush; msn ${before.newest} -> ${first.newest}; after the wipe ${beforeWipe.newest} -> ${after.mediaSequence}`,
  );
}, 110_000);

it('Redis restarted with appendonly yes: 503 with Retry-After while down, back within 5 s, nothing lost or backwards', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wellspring-aof-'));
  dirs.push(dir);
  aof = await startRedisServer({ dir, appendonly: true });
  const port = aof.port;
  const config = testConfig({ redisUrl: aof.url });
  const { log } = captureLogger();
  const node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  nodes.push(node);
  const enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/cam`, 30);
  encoders.push(enc);
  await waitFor(
    () => playlist(`http://127.0.0.1:${node.httpPort}/live/cam/360p/index.m3u8`),
    30_000,
    'stream live',
  );
  const { v } = await viewerThroughCdn(node);
  await sleep(2000);
  const down = v.mark('redis stopped (AOF kept)');
  await aof.stop();
  await sleep(2000);
  aof = await startRedisServer({ port, dir, appendonly: true });
  const up = v.mark('redis back from its AOF');
  await v.waitForMedia(up, 15_000).catch(() => undefined);
  await sleep(3000);
  const rechecked = await v.recheck({ base: `http://127.0.0.1:${node.httpPort}` });
  const rep = await v.stop();
  const outage503 = rep.requests.filter((r) => r.status === 503 && r.doneAt >= down && r.doneAt <= up + 1500);
  console.log(
    `redis appendonly restart, viewer: media ${rep.mediaArrivals.find((t) => t > up)! - up} ms after Redis was back; ` +
      `${outage503.length} answers 503 during the outage (${outage503.filter((r) => r.retryAfter).length} with Retry-After); ` +
      `${rechecked.checked} listed objects re-checked at the reader;`,
    JSON.stringify(summary(rep)),
  );
  expect(outage503.length).toBeGreaterThan(0);
  expect(
    acceptance(rep, {
      storeOutages: [{ from: down, to: up }],
      recoveries: [{ after: up, withinMs: 5000, what: 'Redis back from its AOF, encoder connected' }],
    }),
  ).toEqual([]);
  expect(rechecked.missing).toEqual([]);
  expect(enc.child.exitCode).toBeNull();
}, 90_000);
