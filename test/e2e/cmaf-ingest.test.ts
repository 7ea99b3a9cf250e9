/**
 * DASH-IF CMAF ingest (Interface 1) end to end: ffmpeg sends a video and an audio track as long-running chunked
 * POSTs -> the ingest HTTP listener's /ingest/ mount -> the timeline and redis-server, no transcode -> a manifest worker -> the
 * reader, crawled as an LL-HLS and LL-DASH player would while hls.js (master.m3u8) and dash.js (manifest-ll.mpd)
 * play it in Chromium. Then bad input, each with its status and log line,
 * while the stream stays live.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { launchChromium } from '../../tools/latency/browser-meter.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { cmafSender } from '../support/cmaf-sender.js';
import { captureLogger, type Encoder, testConfig, waitFor } from '../support/harness.js';
import { crawl, get, m3u8 } from '../support/player.js';

const KEY = 'cmaf-secret-key';
let node: NodeHandle;
let ingestBase: string;
let readerBase: string;
let lines: Array<Record<string, unknown>>;
const senders: Encoder[] = [];

/** A request with the path exactly as given (fetch would normalize `..`). */
function rawPost(
  path: string,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<{ status: number; text: string }> {
  const port = node.httpIngestPort!;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res: IncomingMessage) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const require = createRequire(import.meta.url);
/** Each player must play this long after it starts; a position standing still longer than STALL_MS is a stall. */
const PLAY_SEC = 10;
const STALL_MS = 1000;

/** The player page (the monitoring of test/e2e/interop.test.ts, cut to hls.js and dash.js). */
const PAGE = `<!doctype html><html><body>
<video id="v" muted autoplay playsinline width="320"></video>
<script src="/lib.js"></script>
<script>
const q = new URLSearchParams(location.search);
const src = q.get('src'), kind = q.get('player'), timeUrl = q.get('time');
const v = document.getElementById('v');
const r = { t0: performance.now(), startMs: null, played: 0, lastPos: -1, lastAdvance: 0,
  stalls: 0, stalledMs: 0, stallSince: 0, stallsAt: [], fatal: [], warnings: [], version: '' };
window.r = r;
const fatal = (x) => r.fatal.length < 20 && r.fatal.push(String(x).slice(0, 200));
const warn = (x) => r.warnings.length < 20 && r.warnings.push(String(x).slice(0, 200));
try {
  if (kind === 'hls') {
    // hls.js (default config) through MSE explicitly.
    const h = new Hls();
    r.version = Hls.version;
    h.on(Hls.Events.ERROR, (_e, d) => (d.fatal ? fatal : warn)(d.details));
    h.loadSource(src); h.attachMedia(v);
  } else {
    const p = dashjs.MediaPlayer().create();
    r.version = p.getVersion();
    // Its clock from the reader's /time (by default dash.js asks a public time server).
    p.updateSettings({ streaming: {
      utcSynchronization: { enabled: true, useManifestDateHeaderTimeSource: false,
        defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: timeUrl } },
      liveCatchup: { enabled: true } } });
    p.on('error', (e) => fatal('dash.js ' + (e && e.error && (e.error.code + ' ' + e.error.message))));
    p.on('playbackError', (e) => fatal('dash.js playback ' + (e && e.error && e.error.message)));
    p.initialize(v, src, true);
  }
} catch (e) { fatal('setup ' + e); }
v.addEventListener('error', () => fatal('video element ' + (v.error && v.error.code)));
v.play().catch(() => {});
// Playing = the position advancing by at most 0.5 s per 100 ms poll (a larger step is a seek: the join at
// the live edge, a catch-up jump); played = the sum of those steps.
let last = performance.now();
setInterval(() => {
  const now = performance.now(), t = v.currentTime, step = t - r.lastPos;
  if (r.lastPos >= 0 && step > 0.001 && step <= 0.5 + (now - last) / 1000) {
    if (r.startMs === null) r.startMs = Math.round(now - r.t0);
    if (r.stallSince) { r.stalledMs += now - r.stallSince; r.stallSince = 0; }
    r.played += step;
    r.lastAdvance = now;
  } else if (r.startMs !== null && !v.ended && !r.stallSince && now - r.lastAdvance > ${STALL_MS}) {
    r.stalls++; r.stallSince = r.lastAdvance;
    r.stallsAt.push(Math.round(r.played * 10) / 10);
  }
  r.lastPos = t; last = now;
}, 100);
</script></body></html>`;

interface PlayResult {
  player: 'hls' | 'dash';
  version: string;
  startMs: number | null;
  played: number;
  stalls: number;
  stalledMs: number;
  stallsAt: number[];
  fatal: string[];
  warnings: string[];
}

/**
 * hls.js and dash.js, each in its own page of one Chromium at the same time, on manifests straight from the
 * reader (this test has no CDN; the reader allows any origin). Each plays PLAY_SEC seconds after it starts.
 */
async function playInBrowsers(
  cases: Array<{ player: 'hls' | 'dash'; src: string }>,
  timeUrl: string,
): Promise<PlayResult[]> {
  const libs = {
    hls: require.resolve('hls.js/dist/hls.min.js'),
    dash: require.resolve('dashjs'),
  };
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (type: string, body: string | Buffer): void => {
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const player = u.searchParams.get('player') === 'dash' ? 'dash' : 'hls';
    if (u.pathname === '/play.html') send('text/html', PAGE.replace('/lib.js', `/lib.js?player=${player}`));
    else if (u.pathname === '/lib.js') send('application/javascript', readFileSync(libs[player]));
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  const profile = mkdtempSync(join(tmpdir(), 'ws-cmaf-chromium-'));
  const ctx = await launchChromium(profile);
  try {
    return await Promise.all(
      cases.map(async (c): Promise<PlayResult> => {
        const page = await ctx.newPage();
        await page.goto(`${base}/play.html?${new URLSearchParams({ ...c, time: timeUrl })}`);
        type R = Omit<PlayResult, 'player'> & { stallSince: number };
        const read = (): Promise<R> => page.evaluate(() => (window as unknown as { r: R }).r);
        await page
          .waitForFunction(
            () => {
              const r = (window as unknown as { r: R }).r;
              return r.startMs !== null || r.fatal.length > 0;
            },
            undefined,
            { timeout: 20_000, polling: 200 },
          )
          .catch(() => undefined); // asserted below: startMs stays null
        let r = await read();
        if (r.startMs !== null && r.fatal.length === 0) {
          // Wait on the page's own count (not a fixed sleep): PLAY_SEC played, or a fatal error, or 2x the time.
          await page
            .waitForFunction(
              (sec) => {
                const w = (window as unknown as { r: R }).r;
                return w.played >= sec || w.fatal.length > 0;
              },
              PLAY_SEC,
              { timeout: PLAY_SEC * 2000, polling: 200 },
            )
            .catch(() => undefined);
          r = await read();
        }
        await page.close();
        return {
          player: c.player,
          version: r.version,
          startMs: r.startMs,
          played: Math.round(r.played * 10) / 10,
          stalls: r.stalls,
          stalledMs: Math.round(r.stalledMs + (r.stallSince ? 1 : 0)),
          stallsAt: r.stallsAt,
          fatal: r.fatal,
          warnings: r.warnings,
        };
      }),
    );
  } finally {
    await ctx.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const refusals = (): Array<Record<string, unknown>> =>
  lines.filter((l) => l.msg === 'CMAF ingest request refused');

beforeAll(async () => {
  const config = testConfig({
    streams: [{ name: 'cam', key: KEY, ingest: { type: 'cmaf', tracks: ['video', 'audio'] } }],
  });
  const cap = captureLogger();
  lines = cap.lines;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], cap.log, createMetrics());
  ingestBase = `http://127.0.0.1:${node.httpIngestPort}${config.cmafIngest.root}`;
  readerBase = `http://127.0.0.1:${node.httpPort}`;
});

afterAll(async () => {
  await Promise.all(senders.map((s) => s.stop()));
  await node?.stop();
});

describe('CMAF ingest', () => {
  it('ffmpeg posting a video and an audio track plays as LL-HLS, HLS and LL-DASH with no transcode', async () => {
    // The first request may be empty: it only checks the publishing point and the credentials.
    expect((await rawPost('/ingest/cam/video.cmfv', '', { Authorization: `Bearer ${KEY}` })).status).toBe(
      200,
    );
    const sender = cmafSender({ base: `${ingestBase}cam`, query: `?key=${KEY}`, seconds: 60 });
    senders.push(sender);
    const master = await waitFor(
      async () => {
        const r = await get(`${readerBase}/live/cam/master.m3u8`);
        return r.status === 200 ? r.body.toString() : undefined;
      },
      20_000,
      'master.m3u8',
    );
    const mv = m3u8(master);
    expect(mv.playlists.map((p: { uri: string }) => p.uri)).toEqual(['video/index.m3u8']);
    expect(master).toContain('avc1.');
    expect(master).toContain('mp4a.40.2');
    // Not transcoded: the encoder's 320x240 picture, its keyframe every second, its 250 ms fragments as parts.
    expect(master).toContain('RESOLUTION=320x240');
    const pl = m3u8((await get(`${readerBase}/live/cam/video/index.m3u8`)).body.toString());
    expect(pl.partTargetDuration).toBeGreaterThanOrEqual(0.25);
    expect(pl.partTargetDuration).toBeLessThan(0.5);

    // The classic MPD waits for a complete segment of every track.
    await waitFor(
      async () => (await get(`${readerBase}/live/cam/manifest.mpd`)).status === 200,
      15_000,
      'MPD',
    );
    // Real players in Chromium at the same time as the crawl (same stream, same reader).
    const [rep, played] = await Promise.all([
      crawl(readerBase, 'cam', 8, 'video'),
      playInBrowsers(
        [
          { player: 'hls', src: `${readerBase}/live/cam/master.m3u8` },
          { player: 'dash', src: `${readerBase}/live/cam/manifest-ll.mpd` },
        ],
        `${readerBase}/time`,
      ),
    ]);
    console.log('CMAF ingest players', JSON.stringify(played));
    for (const p of played) {
      expect(p.fatal, `${p.player} fatal errors`).toEqual([]);
      expect(p.startMs, `${p.player} started`).not.toBeNull();
      expect(p.played, `${p.player} seconds played`).toBeGreaterThanOrEqual(PLAY_SEC);
      expect(p.stallsAt, `${p.player} stalls > ${STALL_MS} ms (at seconds played)`).toEqual([]);
    }
    expect(rep.violations).toEqual([]);
    expect(rep.blockingReloads).toBeGreaterThan(10);
    expect(rep.mpds).toBeGreaterThan(2);
    expect(rep.dashSegments.size).toBeGreaterThan(4);
    expect(rep.msnSeen.get('audio')?.length).toBeGreaterThan(3);
    expect(rep.discontinuities).toBe(0);
    const ll = (await get(`${readerBase}/live/cam/manifest-ll.mpd`)).body.toString();
    expect(ll).toContain('availabilityTimeOffset');
    expect(ll).toContain('contentType="audio"');
  }, 90_000);

  it('bad input gets its status and a log line saying why; the live stream is unaffected', async () => {
    const now = m3u8((await get(`${readerBase}/live/cam/video/index.m3u8`)).body.toString());
    const before = now.mediaSequence + now.segments.length;
    const auth = { Authorization: `Bearer ${KEY}` };
    // Not CMAF: the box error is in the answer.
    const notCmaf = await rawPost(
      '/ingest/cam/extra.cmfv',
      'hello, this is not an ISO-BMFF file at all',
      auth,
    );
    expect(notCmaf.status).toBe(415);
    expect(notCmaf.text).toMatch(/box at byte 0/);
    // A fragment (a published part: moof+mdat) on a track that has had no header.
    const pl = m3u8((await get(`${readerBase}/live/cam/video/index.m3u8`)).body.toString());
    const partUri = (pl.segments as Array<{ parts?: Array<{ uri: string }> }>).flatMap(
      (s) => s.parts ?? [],
    )[0]!.uri;
    const part = (await get(`${readerBase}/live/cam/video/${partUri}`)).body;
    expect((await rawPost('/ingest/cam/fresh.cmfv', part, auth)).status).toBe(412);
    // Credentials and publishing point.
    expect((await rawPost('/ingest/cam/video.cmfv?key=wrong-key-123', part)).status).toBe(403);
    expect((await rawPost('/ingest/cam/video.cmfv', part)).status).toBe(403);
    expect((await rawPost('/ingest/nope/video.cmfv', part, auth)).status).toBe(404);
    // Names and traversal, plain and encoded.
    expect((await rawPost('/ingest/cam/vid%21eo.cmfv', part, auth)).status).toBe(400);
    expect((await rawPost('/ingest/cam/a/b/c', part, auth)).status).toBe(400);
    expect((await rawPost('/ingest/cam/../video.cmfv', part, auth)).status).toBe(403);
    expect((await rawPost('/ingest/cam/%2e%2e/video.cmfv', part, auth)).status).toBe(403);
    expect((await rawPost('/ingest/cam/..%2fx', part, auth)).status).toBe(403);
    expect((await rawPost('/ingest/cam/video.cmfv', '', auth, 'GET')).status).toBe(405);

    const why = refusals().map((l) => [l.status, l.reason]);
    expect(why).toEqual(
      expect.arrayContaining([
        [415, expect.stringMatching(/not CMAF/)],
        [412, expect.stringMatching(/before its CMAF header/)],
        [403, 'wrong or missing publish key'],
        [404, 'unknown publishing point "nope"'],
        [400, expect.stringMatching(/track name/)],
        [403, 'path traversal refused'],
      ]),
    );
    // The key never reaches a log line.
    expect(JSON.stringify(lines)).not.toContain(KEY);
    // The stream kept going: its playlist advances, no discontinuity, the real tracks untouched.
    await waitFor(
      async () => {
        const m = m3u8((await get(`${readerBase}/live/cam/video/index.m3u8`)).body.toString());
        return m.mediaSequence + m.segments.length >= before + 2;
      },
      15_000,
      'the playlist to advance',
    );
    const after = m3u8((await get(`${readerBase}/live/cam/video/index.m3u8`)).body.toString());
    expect(after.segments.some((s: { discontinuity?: boolean }) => s.discontinuity)).toBe(false);
    const master = (await get(`${readerBase}/live/cam/master.m3u8`)).body.toString();
    expect(master).not.toContain('extra');
    expect(master).not.toContain('fresh');
  }, 60_000);

  it('the sender closing its connections ends the stream', async () => {
    const s = senders[0]!;
    await s.stop();
    const ended = await waitFor(
      () => lines.find((l) => l.msg === 'CMAF ingest publication ended'),
      15_000,
      'the publication to end',
    );
    expect(ended.reason).toBe('sender closed the connection');
    expect(node.ingest!.sessions.has('cam')).toBe(false);
  }, 30_000);
});
