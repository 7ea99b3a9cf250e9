/**
 * The cold tier as composed (issue #11, decision 013): one node (ingest, manifest, reader) with `cold.type disk`
 * publishes a live stream over RTMP; the ingest's segments reach the disk tier behind the live path. With a 1 s
 * segment and 6 s windows, a segment's Redis TTL is 14 s: the test waits until Redis really dropped one (TTL
 * expiry, nothing deleted by hand), then the node's reader still serves it, from the cold tier, with the bytes,
 * ETag and byte ranges a second reader served while it was hot. Metrics count the cold writes and the cold read.
 * Then hls.js in Chromium plays the DVR window (`dvr.m3u8`, 120 s, of which Redis keeps cold.hotWindowSec = 6 s)
 * from its head, where every segment is one Redis already let expire (checked before playing), and plays a
 * catch-up URL (`master.m3u8?start=&end=`) over that range to its end; dash.js plays `dvr.mpd` from a cold position.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser } from 'm3u8-parser';
import pino from 'pino';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/config.js';
import { type Metrics, createMetrics } from '../../src/metrics.js';
import type { Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { type PlayerPages, servePlayerPages, withChromium } from '../support/browser.js';
import { type Encoder, TEST_LADDER, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';

const S = 'coldcam';
const R = TEST_LADDER[0]!.name;
let dir: string;
let node: NodeHandle | undefined;
let hotReader: NodeHandle | undefined;
let plain: Store | undefined;
let enc: Encoder | undefined;
let metrics: Metrics;
/** The node's reader, stream level: `${origin}/dvr.mpd`, `${origin}/${R}/dvr.m3u8`. */
let origin: string;

let pages: PlayerPages | undefined;

afterAll(async () => {
  pages?.close();
  await enc?.stop();
  await hotReader?.stop();
  await node?.stop();
  await plain?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface M3u8 {
  endList?: boolean;
  segments: Array<{ uri: string; duration: number; programDateTime?: number }>;
}
const parse = (text: string): M3u8 => {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as M3u8;
};

/**
 * A player page for a position in a window (hls.js `startPosition`, dash.js `posix:` start time from `at`): it
 * records fatal errors, the media URLs the player loaded, the position, the seconds played (the position's small
 * steps, as in browser.ts's monitor page: a larger step is a seek) and whether the element reached `ended`.
 */
const WINDOW_PAGE = `<!doctype html><html><body>
<video id="v" muted autoplay playsinline width="320"></video>
<script src="/lib.js"></script>
<script>
const q = new URLSearchParams(location.search);
const v = document.getElementById('v');
const r = { fatal: [], frags: [], played: 0, startPos: null, pos: 0, maxPos: 0, ended: false };
window.r = r;
const fatal = (x) => r.fatal.length < 20 && r.fatal.push(String(x).slice(0, 200));
const frag = (u) => r.frags.length < 1000 && r.frags.push(String(u));
try {
  if (q.get('player') === 'hls') {
    const h = new Hls({ lowLatencyMode: false, startPosition: Number(q.get('at')) });
    h.on(Hls.Events.ERROR, (_e, d) => d.fatal && fatal(d.details));
    h.on(Hls.Events.FRAG_LOADED, (_e, d) => frag(d.frag.url));
    h.loadSource(q.get('src'));
    h.attachMedia(v);
  } else {
    const p = dashjs.MediaPlayer().create();
    p.updateSettings({ streaming: {
      utcSynchronization: { enabled: true, useManifestDateHeaderTimeSource: false,
        defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: q.get('time') } },
      liveCatchup: { enabled: false } } });
    p.on('error', (e) => fatal('dash.js ' + (e && e.error && (e.error.code + ' ' + e.error.message))));
    p.on('playbackError', (e) => fatal('dash.js playback ' + (e && e.error && e.error.message)));
    p.on('fragmentLoadingCompleted', (e) => frag(e.request && e.request.url));
    p.initialize(v, q.get('src'), true, 'posix:' + q.get('at'));
  }
} catch (e) { fatal('setup ' + e); }
v.addEventListener('ended', () => { r.ended = true; });
v.addEventListener('error', () => fatal('video element ' + (v.error && v.error.code)));
v.play().catch(() => {});
let last = -1, lastAt = performance.now();
setInterval(() => {
  const now = performance.now(), t = v.currentTime, step = t - last;
  if (last >= 0 && step > 0.001 && step <= 0.5 + (now - lastAt) / 1000) {
    if (r.startPos === null) r.startPos = last;
    r.played += step;
  }
  r.pos = t; r.maxPos = Math.max(r.maxPos, t);
  last = t; lastAt = now;
}, 100);
</script></body></html>`;

interface WindowState {
  fatal: string[];
  frags: string[];
  played: number;
  startPos: number | null;
  pos: number;
  maxPos: number;
  ended: boolean;
}

/**
 * Opens the page and waits (polling, up to timeoutMs) until the player played `until` seconds, or reached
 * `ended`, or reported a fatal error; returns the page's record.
 */
async function play(
  page: Page,
  query: Record<string, string>,
  until: number | 'ended',
  timeoutMs: number,
): Promise<WindowState> {
  await page.goto(pages!.url('window.html', query));
  await page
    .waitForFunction(
      (u) => {
        const r = (window as unknown as { r?: WindowState }).r;
        return !!r && (r.fatal.length > 0 || (u === 'ended' ? r.ended : r.played >= u));
      },
      until,
      { timeout: timeoutMs, polling: 250 },
    )
    .catch(() => undefined); // the caller asserts on the record
  return page.evaluate(() => (window as unknown as { r: WindowState }).r);
}

/** The head of the DVR window: its first segments, each one Redis no longer holds and the cold tier does. */
async function coldHead(min: number): Promise<M3u8['segments']> {
  return waitFor(
    async () => {
      const r = await fetch(`${origin}/${R}/dvr.m3u8`);
      if (r.status !== 200) return undefined;
      const head: M3u8['segments'] = [];
      for (const seg of parse(await r.text()).segments) {
        if ((await plain!.media.getObject(S, R, seg.uri)) !== null) break;
        head.push(seg);
      }
      return head.length >= min ? head : undefined;
    },
    90_000,
    `${min} segments at the head of the DVR window gone from Redis`,
  );
}

async function metric(m: Metrics, name: string, labels: string): Promise<number> {
  const text = await m.registry.getSingleMetricAsString(name);
  const line = text
    .split('\n')
    .find((l) => (labels ? l.startsWith(`${name}{`) && l.includes(labels) : l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('cold tier (disk) as composed', () => {
  it('serves a segment Redis let expire from the cold tier with the same bytes, ETag and ranges', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ws-cold-'));
    const config = testConfig({
      // Redis keeps 6 s of the 120 s DVR window (segment TTL 14 s); the archive lists the rest.
      defaults: { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 120, ladder: [TEST_LADDER[0]!] },
      // keep: the sweeper (manifest role) never deletes what the players below read
      cold: { type: 'disk', dir, keep: [S], hotWindowSec: 6 },
    });
    const log = pino({ level: 'warn' });
    metrics = createMetrics();
    node = await startNode(config, ['ingest', 'manifest', 'reader'], log, metrics);
    hotReader = await startNode(config, ['reader'], log, createMetrics());
    plain = createRedisStore({ target: redisTarget(config), prefix: config.keyPrefix, role: 'reader' });
    // Live through the player tests below (stopped in afterAll).
    enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/${config.rtmp.app}/${S}`, 150);

    const hotBase = `http://127.0.0.1:${hotReader.httpPort}/live/${S}/${R}`;
    origin = `http://127.0.0.1:${node.httpPort}/live/${S}`;
    const coldBase = `${origin}/${R}`;
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

  it('hls.js plays the DVR window from segments only the cold tier holds, and a catch-up URL to its end', async () => {
    const head = await coldHead(8);
    for (const seg of head) {
      // In the cold tier (the reader's source for them), not in Redis (checked by coldHead).
      await access(join(dir, 'live', S, R, seg.uri));
    }
    const coldSec = head.reduce((n, seg) => n + seg.duration, 0);
    const hitsBefore = await metric(metrics, 'wellspring_cold_reads_total', 'result="hit"');
    pages = await servePlayerPages({ extraPages: { 'window.html': WINDOW_PAGE } });
    // The catch-up: the segments starting in [start, end), all of them cold.
    const range = head.slice(1, -1);
    const start = new Date(head[1]!.programDateTime!).toISOString();
    const end = new Date(head.at(-1)!.programDateTime!).toISOString();
    const rangeSec = range.reduce((n, seg) => n + seg.duration, 0);
    const catchUp = await fetch(`${origin}/${R}/index.m3u8?start=${start}&end=${end}`);
    const listed = parse(await catchUp.text());
    expect(listed.endList).toBe(true);
    expect(listed.segments.map((x) => x.uri)).toEqual(range.map((x) => x.uri));

    await withChromium(async (ctx) => {
      const page = await ctx.newPage();
      // DVR window from its head (position 0 = its first segment).
      const dvr = await play(page, { player: 'hls', src: `${origin}/${R}/dvr.m3u8`, at: '0' }, 4, 60_000);
      console.log('hls.js dvr.m3u8:', JSON.stringify({ ...dvr, frags: dvr.frags.length, coldSec }));
      expect(dvr.fatal).toEqual([]);
      expect(dvr.played).toBeGreaterThanOrEqual(4);
      // Those 4 s were in the cold range: started at its head, and the first cold segments were fetched.
      expect(dvr.startPos!).toBeLessThanOrEqual(coldSec - 4);
      for (const seg of head.slice(0, 4)) {
        expect(
          dvr.frags.some((u) => u.endsWith(`/${R}/${seg.uri}`)),
          seg.uri,
        ).toBe(true);
      }
      expect(await metric(metrics, 'wellspring_cold_reads_total', 'result="hit"')).toBeGreaterThanOrEqual(
        hitsBefore + 3,
      );

      // Catch-up on the multivariant playlist (video and audio): ENDLIST, played to its end.
      const cu = await play(
        page,
        { player: 'hls', src: `${origin}/master.m3u8?start=${start}&end=${end}`, at: '-1' },
        'ended',
        (rangeSec + 45) * 1000,
      );
      console.log('hls.js catch-up:', JSON.stringify({ ...cu, frags: cu.frags.length, rangeSec }));
      expect(cu.fatal).toEqual([]);
      expect(cu.ended || cu.maxPos >= rangeSec - 1).toBe(true);
      expect(cu.played).toBeGreaterThanOrEqual(rangeSec - 1.5);
      for (const seg of range) {
        expect(
          cu.frags.some((u) => u.includes(`/${R}/${seg.uri}`)),
          seg.uri,
        ).toBe(true);
      }
      await page.close();
    });
  }, 240_000);

  it('dash.js plays dvr.mpd from a position only the cold tier holds', async () => {
    const head = await coldHead(20);
    const coldUris = new Set(head.map((x) => x.uri));
    // 5 s before the newest cold segment's end (segments only ever go from hot to cold, and the window's start,
    // sliding with the wall clock, is 15 s or more behind), as a wall clock: dash.js takes a `posix:` start time.
    const at = (head.at(-5)!.programDateTime! / 1000 + 0.1).toFixed(3);
    // Served from the cold tier or from the reader's cache of cold reads (the hls.js test read the same head).
    const coldServed = async (): Promise<number> =>
      (await metric(metrics, 'wellspring_cold_reads_total', 'result="hit"')) +
      (await metric(metrics, 'wellspring_cold_cache_hits_total', ''));
    const servedBefore = await coldServed();
    await withChromium(async (ctx) => {
      const page = await ctx.newPage();
      const d = await play(
        page,
        { player: 'dash', src: `${origin}/dvr.mpd`, at, time: `http://127.0.0.1:${node!.httpPort}/time` },
        4,
        60_000,
      );
      const video = d.frags
        .filter((u) => u.includes(`/${R}/seg-`))
        .map((u) => u.slice(u.lastIndexOf('/') + 1));
      console.log('dash.js dvr.mpd:', JSON.stringify({ ...d, frags: video.slice(0, 8) }));
      expect(d.fatal).toEqual([]);
      expect(d.played).toBeGreaterThanOrEqual(4);
      // It started in the cold range: its first video segments are ones only the cold tier held.
      expect(video.length).toBeGreaterThanOrEqual(4);
      expect(
        video.slice(0, 4).every((u) => coldUris.has(u)),
        video.slice(0, 4).join(','),
      ).toBe(true);
      await page.close();
    });
    expect(await coldServed()).toBeGreaterThanOrEqual(servedBefore + 4);
  }, 180_000);
});
