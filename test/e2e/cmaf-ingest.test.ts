/**
 * DASH-IF CMAF ingest (Interface 1) end to end: ffmpeg sends a video and an audio track as long-running chunked
 * POSTs -> the ingest HTTP listener's /ingest/ mount -> the timeline and redis-server, no transcode -> a manifest worker -> the
 * reader, crawled as an LL-HLS and LL-DASH player would while hls.js (master.m3u8) and dash.js (manifest-ll.mpd)
 * play it in Chromium. Then bad input, each with its status and log line,
 * while the stream stays live.
 */
import { type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { servePlayerPages, watchPlayback, withChromium } from '../support/browser.js';
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

/** Each player must play this long after it starts; a position standing still longer than STALL_MS is a stall. */
const PLAY_SEC = 10;
const STALL_MS = 1000;

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
  // The monitor page of test/support/browser.ts, hls.js (default config) and dash.js (liveCatchup).
  const pages = await servePlayerPages({ stallMs: STALL_MS });
  try {
    return await withChromium((ctx) =>
      Promise.all(
        cases.map(async (c): Promise<PlayResult> => {
          const page = await ctx.newPage();
          await page.goto(pages.url('play.html', { ...c, ll: '1', time: timeUrl }));
          // Waits on the page's own count (not a fixed sleep): PLAY_SEC played, or a fatal error, or 2x the time.
          const r = await watchPlayback(page, { startTimeoutMs: 20_000, playSec: PLAY_SEC, until: 'played' });
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
      ),
    );
  } finally {
    pages.close();
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
