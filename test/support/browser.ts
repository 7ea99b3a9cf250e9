/**
 * Chromium player pages for the end-to-end tests (one helper for interop, cmaf-ingest and tracks): a local HTTP
 * server serving the player libraries from node_modules and the pages that load them, a private Chromium
 * profile, and the playback monitor page (position sampled every 100 ms: start time, seconds played, stalls,
 * fatal errors and warnings). The media itself comes from the reader or the CDN through MSE (CORS allowed).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../../tools/latency/browser-meter.js';

const require = createRequire(import.meta.url);

export type PlayerKind = 'hls' | 'shaka' | 'dash';

const LIBS: Record<PlayerKind, string> = {
  hls: require.resolve('hls.js/dist/hls.min.js'),
  shaka: require.resolve('shaka-player/dist/shaka-player.compiled.js'),
  dash: require.resolve('dashjs'),
};

/** What the monitor page (`/play.html`) records, read with `page.evaluate(() => window.r)`. */
export interface PlaybackState {
  /** From page load to the first advance of the position, ms. */
  startMs: number | null;
  /** Sum of the position's small steps (a larger step is a seek), s. */
  played: number;
  stalls: number;
  stalledMs: number;
  /** When the current stall began (performance.now()), 0 when playing. */
  stallSince: number;
  /** How much had been played when each stall began, s. */
  stallsAt: number[];
  fatal: string[];
  warnings: string[];
  version: string;
}

/**
 * The monitor page. Query: `src` (manifest URL), `player` (hls | shaka | dash), `ll` (1: hls.js default config,
 * Shaka lowLatencyMode, dash.js liveCatchup; 0: hls.js lowLatencyMode false, the others off), `time` (dash.js
 * UTC timing URL). A position standing still longer than `stallMs` after the start is a stall.
 */
function monitorPage(stallMs: number): string {
  return `<!doctype html><html><body>
<video id="v" muted autoplay playsinline width="320"></video>
<script src="/lib.js"></script>
<script>
const q = new URLSearchParams(location.search);
const src = q.get('src'), kind = q.get('player'), ll = q.get('ll') !== '0', timeUrl = q.get('time');
const v = document.getElementById('v');
const r = { t0: performance.now(), startMs: null, played: 0, lastPos: -1, lastAdvance: 0,
  stalls: 0, stalledMs: 0, stallSince: 0, stallsAt: [], fatal: [], warnings: [], version: '' };
window.r = r;
const fatal = (x) => r.fatal.length < 20 && r.fatal.push(String(x).slice(0, 200));
const warn = (x) => r.warnings.length < 20 && r.warnings.push(String(x).slice(0, 200));
try {
  if (kind === 'hls') {
    // hls.js through MSE explicitly (Chromium answers "maybe" for native HLS it does not have).
    const h = new Hls(ll ? {} : { lowLatencyMode: false });
    r.version = Hls.version;
    h.on(Hls.Events.ERROR, (_e, d) => (d.fatal ? fatal : warn)(d.details));
    h.loadSource(src); h.attachMedia(v);
  } else if (kind === 'shaka') {
    shaka.polyfill.installAll();
    r.version = shaka.Player.version;
    const p = new shaka.Player();
    p.configure({ streaming: { lowLatencyMode: ll } });
    p.addEventListener('error', (e) => (e.detail.severity === 2 ? fatal : warn)(
      'shaka ' + e.detail.code + ' ' + JSON.stringify(e.detail.data).slice(0, 160)));
    p.attach(v).then(() => p.load(src)).catch((e) => fatal('load ' + (e && e.code)));
  } else {
    const p = dashjs.MediaPlayer().create();
    r.version = p.getVersion();
    // Its clock from the reader's /time (by default dash.js asks a public time server).
    p.updateSettings({ streaming: {
      utcSynchronization: { enabled: true, useManifestDateHeaderTimeSource: false,
        defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: timeUrl } },
      liveCatchup: { enabled: ll } } });
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
  } else if (r.startMs !== null && !v.ended && !r.stallSince && now - r.lastAdvance > ${stallMs}) {
    r.stalls++; r.stallSince = r.lastAdvance;
    r.stallsAt.push(Math.round(r.played * 10) / 10);
  }
  r.lastPos = t; last = now;
}, 100);
</script></body></html>`;
}

export interface PlayerPages {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** URL of a page (`play.html` or one of `extraPages`) with these query parameters; `player` picks the library. */
  url(page: string, query: Record<string, string>): string;
  close(): void;
}

/**
 * Serves `/play.html` (the monitor page, stalls over `stallMs`) and `extraPages` (path without the slash ->
 * HTML that loads `/lib.js`); each page gets the library its `player` query parameter names.
 */
export async function servePlayerPages(
  o: { stallMs?: number; extraPages?: Record<string, string> } = {},
): Promise<PlayerPages> {
  const pages: Record<string, string> = { 'play.html': monitorPage(o.stallMs ?? 1000), ...o.extraPages };
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (type: string, body: string | Buffer): void => {
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const page = pages[u.pathname.slice(1)];
    const lib = LIBS[(u.searchParams.get('p') ?? '') as PlayerKind];
    // The library URL carries the player, so each page loads only its own.
    if (page) send('text/html', page.replace('/lib.js', `/lib.js?p=${u.searchParams.get('player') ?? ''}`));
    else if (u.pathname === '/lib.js' && lib) send('application/javascript', readFileSync(lib));
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return {
    base,
    url: (page, query) => `${base}/${page}?${new URLSearchParams(query)}`,
    close: () => void server.close(),
  };
}

/** Runs `fn` with a headless Chromium on a private profile (under os.tmpdir(), removed afterwards). */
export async function withChromium<T>(fn: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
  const ctx = await launchChromium(profile);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Chromium's version, from its user agent. */
export async function chromiumVersion(ctx: BrowserContext): Promise<string> {
  const p = await ctx.newPage();
  const ua = await p.evaluate(() => navigator.userAgent);
  await p.close();
  return /Chrome\/([\d.]+)/.exec(ua)?.[1] ?? 'unknown';
}

const readState = (page: Page): Promise<PlaybackState> =>
  page.evaluate(() => (window as unknown as { r: PlaybackState }).r);

/**
 * Watches a monitor page: waits up to `startTimeoutMs` for playback to start (or a fatal error), then either
 * until `playSec` seconds have been played (`until: 'played'`, at most twice that long) or for a window of
 * `playSec` seconds (`until: 'window'`, what was played in it is the result). Returns the page's record.
 */
export async function watchPlayback(
  page: Page,
  o: { startTimeoutMs: number; playSec: number; until: 'played' | 'window' },
): Promise<PlaybackState> {
  await page
    .waitForFunction(
      () => {
        const r = (window as unknown as { r: PlaybackState }).r;
        return r.startMs !== null || r.fatal.length > 0;
      },
      undefined,
      { timeout: o.startTimeoutMs, polling: 200 },
    )
    .catch(() => undefined); // the caller asserts on startMs staying null
  const r = await readState(page);
  if (r.startMs === null || r.fatal.length > 0) return r;
  if (o.until === 'window') {
    // An observation window, not a wait for a condition: what the player does in it is the measurement.
    await new Promise((res) => setTimeout(res, o.playSec * 1000 + 500));
  } else {
    await page
      .waitForFunction(
        (sec) => {
          const w = (window as unknown as { r: PlaybackState }).r;
          return w.played >= sec || w.fatal.length > 0;
        },
        o.playSec,
        { timeout: o.playSec * 2000, polling: 200 },
      )
      .catch(() => undefined);
  }
  return readState(page);
}
