/**
 * The whole pipeline through a real CDN: RTMP and SRT publishers (ffmpeg) -> ingest -> redis-server -> two
 * manifest workers -> two readers -> nginx with proxy_cache -> player-like clients and a real browser.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { freePort } from '../../tools/process/redis-server.js';
import { launchChromium } from '../../tools/latency/browser-meter.js';
import { createMetrics } from '../../src/metrics.js';
import { redisTarget } from '../../src/config.js';
import { objectName } from '../../src/core/index.js';
import type { Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import {
  captureLogger,
  type Encoder,
  encoder,
  rtmpEncoder,
  sleep,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { type CrawlReport, crawl, get, m3u8 } from '../support/player.js';

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const SRT_PASSPHRASE = 'origin test passphrase';

let a: NodeHandle;
let b: NodeHandle;
let cdn: EmbeddedCdn;
let store: Store;
let config: ReturnType<typeof testConfig>;
let srtPort: number;
const encoders: Encoder[] = [];

beforeAll(async () => {
  srtPort = await freePort();
  config = testConfig({
    streams: [
      { name: 'rtmpcam', key: 'rtmp-secret-key', ingest: { type: 'rtmp' } },
      { name: 'srtcam', ingest: { type: 'srt', port: srtPort, passphrase: SRT_PASSPHRASE } },
      { name: 'webcam', key: 'web-secret-key', ingest: { type: 'rtmp' } },
    ],
  });
  const { log } = captureLogger();
  // Node A: ingest, a manifest worker, a reader. Node B: another manifest worker and another reader.
  a = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  b = await startNode(config, ['manifest', 'reader'], log, createMetrics());
  cdn = await startVarnishCdn([a.httpPort!, b.httpPort!], template);
  store = createRedisStore({ target: redisTarget(config), prefix: config.keyPrefix, role: 'command' });
});

afterAll(async () => {
  await Promise.all(encoders.map((e) => e.stop()));
  await a?.stop();
  await b?.stop();
  await cdn?.stop();
  await store?.close();
});

const rtmpUrl = (): string => `rtmp://127.0.0.1:${a.rtmpPort}/live/rtmp-secret-key`;
const srtUrl = (): string =>
  `srt://127.0.0.1:${srtPort}?passphrase=${encodeURIComponent(SRT_PASSPHRASE)}&pbkeylen=16&latency=120000`;

function expectClean(rep: CrawlReport): void {
  expect(rep.violations.slice(0, 20)).toEqual([]);
  expect(rep.blockingReloads).toBeGreaterThan(50);
  expect(rep.mpds).toBeGreaterThan(5);
  expect(rep.objects.size).toBeGreaterThan(100);
}

describe('origin through a CDN', () => {
  let rtmpReport: CrawlReport;
  let srtReport: CrawlReport;

  it('serves RTMP and SRT streams for 30 s: every manifest parses, every named object is fetchable', async () => {
    encoders.push(rtmpEncoder(rtmpUrl(), 40), encoder(['-f', 'mpegts', srtUrl()], 40));
    for (const s of ['rtmpcam', 'srtcam']) {
      await waitFor(
        async () => {
          // Two complete segments (numbers start at the clock floor, decision 006: not at 0).
          const r = await get(`${cdn.url}/live/${s}/360p/index.m3u8`);
          return r.status === 200 && m3u8(r.body.toString()).segments.length >= 2;
        },
        30_000,
        `${s} live`,
      );
    }
    [rtmpReport, srtReport] = await Promise.all([
      crawl(cdn.url, 'rtmpcam', 30, '360p'),
      crawl(cdn.url, 'srtcam', 30, '360p'),
    ]);
    expectClean(rtmpReport);
    expectClean(srtReport);
  });

  it('HLS and DASH name the same media objects', () => {
    for (const rep of [rtmpReport, srtReport]) {
      expect(rep.dashSegments.size).toBeGreaterThan(20);
      const notInHls = [...rep.dashSegments].filter((u) => !rep.hlsSegments.has(u));
      // Everything DASH lists is a segment HLS listed too (or the newest one, not yet seen by the HLS crawl).
      expect(notInHls.length).toBeLessThanOrEqual(4);
    }
  });

  it('holds a blocking reload until the part exists, and rejects one too far ahead with 400', async () => {
    const live = m3u8((await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8`)).body.toString());
    const hint = /part-(\d+)\.(\d+)\.m4s/.exec(live.preloadSegment.preloadHints[0].uri)!;
    const [msn, part] = [Number(hint[1]), Number(hint[2])];
    // The hinted part does not exist yet when we ask (fetched straight from the origin, no cache involved).
    expect(
      (
        await get(`http://127.0.0.1:${a.httpPort}/live/rtmpcam/360p/part-${msn}.${part}.m4s`, {
          method: 'HEAD',
        })
      ).status,
    ).toBe(404);
    const r = await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain(`part-${msn}.${part}.m4s`);
    expect(r.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const far = await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8?_HLS_msn=${msn + 10}`);
    expect(far.status).toBe(400);
    // The preload-hinted part itself is answered once it exists.
    const next = m3u8((await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8`)).body.toString()).preloadSegment
      .preloadHints[0].uri;
    const p = await get(`${cdn.url}/live/rtmpcam/360p/${next}`);
    expect(p.status).toBe(200);
    expect(p.body.length).toBeGreaterThan(100);
  });

  it('two readers and two manifest workers serve identical playlists for the same version', async () => {
    let compared = 0;
    for (let i = 0; i < 20 && compared < 5; i++) {
      const [x, y] = await Promise.all([
        get(`http://127.0.0.1:${a.httpPort}/live/rtmpcam/360p/index.m3u8`),
        get(`http://127.0.0.1:${b.httpPort}/live/rtmpcam/360p/index.m3u8`),
      ]);
      if (x.headers.get('etag') === y.headers.get('etag')) {
        expect(x.body.equals(y.body)).toBe(true);
        compared++;
      }
      await sleep(100);
    }
    expect(compared).toBeGreaterThanOrEqual(3);
  });

  it('speaks HTTP as a CDN and a browser player expect: types, cache policy, HEAD, ranges, ETag, CORS', async () => {
    const origin = `http://127.0.0.1:${a.httpPort}`;
    const pl = await get(`${origin}/live/rtmpcam/360p/index.m3u8`);
    expect(pl.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(pl.headers.get('cache-control')).toBe('public, max-age=1'); // half a 1 s segment, floored at 1 s
    expect(pl.headers.get('access-control-allow-origin')).toBe('*');
    const etag = pl.headers.get('etag')!;
    const notModified = await get(`${origin}/live/rtmpcam/360p/index.m3u8`, {
      headers: { 'If-None-Match': etag },
    });
    expect([200, 304]).toContain(notModified.status); // 304 unless a newer version landed in between
    const mpd = await get(`${origin}/live/rtmpcam/manifest.mpd`);
    expect(mpd.headers.get('content-type')).toBe('application/dash+xml');
    const seg = m3u8(pl.body.toString()).segments.at(-1).uri as string;
    const full = await get(`${origin}/live/rtmpcam/360p/${seg}`);
    expect(full.headers.get('content-type')).toBe('video/iso.segment');
    expect(full.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    const head = await get(`${origin}/live/rtmpcam/360p/${seg}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers.get('content-length'))).toBe(full.body.length);
    const range = await get(`${origin}/live/rtmpcam/360p/${seg}`, { headers: { Range: 'bytes=10-99' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 10-99/${full.body.length}`);
    expect(range.body.equals(full.body.subarray(10, 100))).toBe(true);
    expect(
      (
        await get(`${origin}/live/rtmpcam/360p/${seg}`, {
          headers: { Range: `bytes=${full.body.length + 5}-` },
        })
      ).status,
    ).toBe(416);
    const cached = await get(`${origin}/live/rtmpcam/360p/${seg}`, {
      headers: { 'If-None-Match': full.headers.get('etag')! },
    });
    expect(cached.status).toBe(304);
    // Init ids start at the clock floor (decision 006): take the name from the playlist.
    const audioPl = m3u8((await get(`${origin}/live/rtmpcam/audio/index.m3u8`)).body.toString());
    const audioInit = await get(`${origin}/live/rtmpcam/audio/${audioPl.segments.at(-1).map.uri as string}`);
    expect(audioInit.headers.get('content-type')).toBe('audio/mp4');
    const preflight = await get(`${cdn.url}/live/rtmpcam/master.m3u8`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://player.example', 'Access-Control-Request-Headers': 'range' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Range/);
    const time = await get(`${origin}/time`);
    expect(Math.abs(Date.parse(time.body.toString()) - Date.now())).toBeLessThan(5000);
    expect((await get(`${origin}/healthz`)).status).toBe(200);
    expect((await get(`${origin}/readyz`)).status).toBe(200);
    const streams = JSON.parse((await get(`${cdn.url}/streams`)).body.toString()) as {
      streams: Array<{ name: string; state: string }>;
    };
    expect(streams.streams.map((s) => s.name).sort()).toEqual(expect.arrayContaining(['rtmpcam', 'srtcam']));
    expect((await get(`${origin}/metrics`)).body.toString()).toContain('wellspring_http_requests_total');
    // Through the CDN a segment is cached and immutable: the second request is a hit.
    await get(`${cdn.url}/live/rtmpcam/360p/${seg}`);
    expect((await get(`${cdn.url}/live/rtmpcam/360p/${seg}`)).headers.get('x-cache-status')).toBe('HIT');
  });

  it('streams an in-flight LL-DASH segment to a second viewer while it fills, not after it completes', async () => {
    const live = m3u8((await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8`)).body.toString());
    const next = live.mediaSequence + live.segments.length + 1; // the segment after the open one
    const url = `${cdn.url}/live/rtmpcam/360p/seg-${next}.m4s`;
    // Two viewers ask for the same not-yet-written segment through the CDN; each notes when its first bytes and
    // its last bytes arrive (as events, in order: this is not a speed assertion).
    const order: string[] = [];
    const view = async (name: string): Promise<number> => {
      const r = await fetch(url);
      expect(r.status).toBe(200);
      let n = 0;
      for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) {
        if (n === 0) order.push(`${name} first`);
        n += c.length;
      }
      order.push(`${name} end`);
      return n;
    };
    const first = view('a');
    await sleep(100);
    const sizes = await Promise.all([first, view('b')]);
    // The second viewer got bytes before the first viewer's copy was complete, and both got the whole segment.
    expect(order.indexOf('b first')).toBeLessThan(order.indexOf('a end'));
    expect(sizes[0]).toBe(sizes[1]);
    const whole = await get(`http://127.0.0.1:${a.httpPort}/live/rtmpcam/360p/seg-${next}.m4s`);
    expect(whole.body.length).toBe(sizes[0]);
  });

  it('rejects bad requests with 4xx and changes nothing', async () => {
    const streamsBefore = (await store.streams.list(100)).map((s) => s.name).sort();
    const bad: Array<[string, RequestInit | undefined, number[]]> = [
      ['/live/../../etc/passwd', undefined, [400, 404]],
      ['/live/rtmpcam/..%2f..%2fmeta/index.m3u8', undefined, [400, 404]],
      ['/live/rtmpcam/360p/seg-1.m4s%00', undefined, [400, 404]],
      ['/live/rtmpcam/360p/index.m3u8?_HLS_msn=99999999999999999999999', undefined, [400]],
      ['/live/rtmpcam/360p/index.m3u8?_HLS_msn=abc', undefined, [400]],
      ['/live/rtmpcam/360p/index.m3u8?_HLS_part=1', undefined, [400]],
      ['/live/rtmpcam/360p/index.m3u8?_HLS_skip=MAYBE', undefined, [400]],
      [`/live/rtmpcam/360p/index.m3u8?_HLS_msn=1&x=${'a'.repeat(3000)}`, undefined, [400, 414]],
      ['/live/nosuchstream/master.m3u8', undefined, [404]],
      ['/live/rtmpcam/nosuch/index.m3u8', undefined, [404]],
      ['/live/rtmpcam/360p/init-999.mp4', undefined, [404]],
      ['/live/rtmpcam/master.m3u8', { method: 'POST', body: 'x' }, [405]],
      ['/live/rtmpcam/master.m3u8', { method: 'DELETE' }, [405]],
      ['/live/rtmpcam/master.m3u8', { method: 'PUT', body: 'x' }, [405]],
    ];
    for (const [path, init, allowed] of bad) {
      const r = await get(`${cdn.url}${path}`, init);
      expect(allowed, `${init?.method ?? 'GET'} ${path.slice(0, 80)} -> ${r.status}`).toContain(r.status);
    }
    expect((await store.streams.list(100)).map((s) => s.name).sort()).toEqual(streamsBefore);
    for (const name of ['nosuchstream', 'etc'])
      expect(await store.streams.readState(name), name).toMatchObject({ version: 0, settings: undefined });
    expect((await get(`${cdn.url}/live/rtmpcam/master.m3u8`)).status).toBe(200);
  });

  it('lets objects behind the window expire by TTL, then answers 404', async () => {
    // Parts live for a few target durations after leaving the playlist; 240p parts were never fetched, so the CDN has none cached.
    const first = Math.min(...(rtmpReport.msnSeen.get('240p') ?? [0]));
    const r = await get(`${cdn.url}/live/rtmpcam/240p/part-${first}.0.m4s`);
    expect(r.status).toBe(404);
    expect(r.headers.get('cache-control')).toBe('public, max-age=1');
    // While the segment itself is still within its (longer) TTL.
    expect(await store.media.getObject('rtmpcam', '240p', objectName.segment(first + 1))).not.toBeNull();
  });

  it('after the encoder reconnects, players get a discontinuity, sequence numbers continue and no URL changes bytes', async () => {
    await encoders[0]!.done;
    await waitFor(
      async () =>
        (await get(`http://127.0.0.1:${a.httpPort}/streams`)).body
          .toString()
          .includes('"name":"rtmpcam","updatedAt"'),
      5000,
      'streams',
    );
    const before = m3u8((await get(`${cdn.url}/live/rtmpcam/360p/index.m3u8`)).body.toString());
    const lastBefore = before.mediaSequence + before.segments.length - 1;
    encoders.push(rtmpEncoder(rtmpUrl(), 15));
    const after = await waitFor(
      async () => {
        const m = m3u8(
          (await get(`http://127.0.0.1:${a.httpPort}/live/rtmpcam/360p/index.m3u8`)).body.toString(),
        );
        return m.segments.some((s: { discontinuity?: boolean }) => s.discontinuity) &&
          m.segments.length > 0 &&
          m.mediaSequence + m.segments.length - 1 > lastBefore + 2
          ? m
          : undefined;
      },
      30_000,
      'segments after reconnect',
    );
    expect(after.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence);
    const d = after.segments.findIndex((s: { discontinuity?: boolean }) => s.discontinuity);
    expect(after.mediaSequence + d).toBeGreaterThan(lastBefore);
    // Everything fetched before the reconnect still has the same bytes at the same URL (origin, bypassing the CDN).
    const { createHash } = await import('node:crypto');
    let checked = 0;
    for (const [url, sha] of [...rtmpReport.objects]
      .filter(([u]) => u.includes('/rtmpcam/360p/seg-'))
      .slice(-5)) {
      const r = await get(url.replace(cdn.url, `http://127.0.0.1:${b.httpPort}`));
      if (r.status !== 200) continue; // expired
      expect(createHash('sha1').update(r.body).digest('hex')).toBe(sha);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    const mpd = (await get(`${cdn.url}/live/rtmpcam/manifest.mpd`)).body.toString();
    expect((mpd.match(/<Period /g) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it("a real browser plays the demo page's stream with hls.js through the CDN for 20 s without stalling", async () => {
    await Promise.all(encoders.map((e) => e.done));
    const enc = rtmpEncoder(`rtmp://127.0.0.1:${a.rtmpPort}/live/web-secret-key`, 45);
    encoders.push(enc);
    await waitFor(
      async () => (await get(`${cdn.url}/live/webcam/master.m3u8`)).status === 200,
      30_000,
      'webcam live',
    );
    await sleep(3000);
    const profile = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
    const ctx = await launchChromium(profile);
    try {
      const page = await ctx.newPage();
      await page.goto(`${cdn.url}/?play=webcam`);
      await page.waitForFunction(
        () => (window as unknown as { wellspring: { playing: boolean } }).wellspring.playing,
        undefined,
        { timeout: 30_000 },
      );
      const t0 = await page.evaluate(() => document.querySelector('video')!.currentTime);
      await sleep(20_000);
      const result = await page.evaluate(() => {
        const w = (
          window as unknown as {
            wellspring: { stalls: number; stalledMs: number; errors: string[]; stream: string };
          }
        ).wellspring;
        const v = document.querySelector('video')!;
        return {
          stalls: w.stalls,
          stalledMs: w.stalledMs,
          errors: w.errors,
          stream: w.stream,
          time: v.currentTime,
          width: v.videoWidth,
        };
      });
      expect(result.stream).toBe('webcam');
      expect(result.errors.filter((e) => e.includes('fatal'))).toEqual([]);
      expect(result.stalls).toBe(0);
      expect(result.time - t0).toBeGreaterThan(18);
      expect(result.width).toBeGreaterThan(0);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
