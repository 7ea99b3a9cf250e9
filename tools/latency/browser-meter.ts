/**
 * The browser meter: Debian's Chromium (playwright-core) plays a stream with hls.js or dash.js, and the page reads
 * the stamp of the frame on screen from a canvas four times a second: glass-to-glass latency = now - stamp. It
 * also counts stalls ('waiting' after playback started) and stalled time. The stamp decoder is the same code the
 * probe uses (stamp.ts), bundled for the page.
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext } from 'playwright-core';

export interface MeterOptions {
  url: string;
  player: 'hls' | 'dash';
  seconds: number;
  warmupSec?: number;
  lowLatency?: boolean;
  /** The origin's clock for dash.js (urn:mpeg:dash:utc:http-iso:2014). Default: /time on the stream's host. */
  timeUrl?: string;
  /**
   * Player settings: 'tuned' (default; hls.js catches up with maxLiveSyncPlaybackRate 1.1), 'defaults' (hls.js
   * with its own defaults but lowLatencyMode as asked; dash.js with only the time source and the lowest
   * rendition set), or an object merged into the hls.js config / dash.js `streaming` settings.
   */
  playerConfig?: 'tuned' | 'defaults' | Record<string, unknown>;
  chromium?: string;
  /**
   * Niceness of the browser's processes (default 0). The player stands for a viewer's device, which in real life
   * does not share the origin's CPU; on one machine a niced player yields the CPU to the origin and the source
   * instead of taking it from them.
   */
  nice?: number;
}

export interface MeterResult {
  url: string;
  player: string;
  lowLatency: boolean;
  samples: Array<{ atMs: number; latencyMs: number; aheadMs?: number }>;
  /** What the player says at the end: its target latency and its own latency estimate (s). */
  playerView?: Record<string, number | null | undefined>;
  unreadable: number;
  stalls: number;
  stalledMs: number;
  errors: string[];
  /** Each stall after warm-up: when it began (Unix ms) and how long it lasted. */
  stallList?: Array<{ atMs: number; ms: number }>;
  /** The player's events after warm-up on the Unix clock: stalls, errors (hls.js details), slow loads, seeks. */
  events?: Array<{ atMs: number; what: string }>;
  /** Unix ms when counting began (after warm-up). */
  countFromMs?: number;
}

const require = createRequire(import.meta.url);

/** Sets the niceness of every process whose command line names `profileDir` (this meter's Chromium). */
function reniceBrowser(profileDir: string, nice: number): number {
  let n = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(profileDir)) continue;
      setPriority(Number(d), nice);
      n++;
    } catch {
      // gone, or not permitted
    }
  }
  return n;
}

const PAGE = `<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px"></video>
<canvas id="c" width="320" height="180" style="display:none"></canvas>
<script src="/stamp.js"></script><script src="/player.js"></script>
<script>
const q = new URLSearchParams(location.search);
const src = q.get('src'), kind = q.get('player'), ll = q.get('ll') !== '0', timeUrl = q.get('time');
const mode = q.get('cfg') || 'tuned', extra = mode.startsWith('{') ? JSON.parse(mode) : {};
const v = document.getElementById('v'), c = document.getElementById('c'), g = c.getContext('2d', { willReadFrequently: true });
const m = { samples: [], unreadable: 0, stalls: 0, stalledMs: 0, stallStart: 0, stallAt: 0, playing: false, errors: [], stallList: [], events: [] };
window.meter = m;
// Every event on the Unix clock (Date.now), the clock the bench's other series use.
const ev = (what) => { if (m.events.length < 400) m.events.push({ atMs: Date.now(), what }); };
v.addEventListener('waiting', () => { if (m.playing && !m.stallStart) { m.stalls++; m.stallStart = performance.now(); m.stallAt = Date.now(); ev('waiting'); } });
v.addEventListener('playing', () => { if (!m.playing) ev('first playing at ' + v.currentTime.toFixed(2)); m.playing = true; if (m.stallStart) { const ms = performance.now() - m.stallStart; m.stalledMs += ms; m.stallList.push({ atMs: m.stallAt, ms: Math.round(ms) }); m.stallStart = 0; ev('playing'); } });
v.addEventListener('seeking', () => ev('seeking to ' + v.currentTime.toFixed(2)));
if (kind === 'hls') {
  // Forced MSE: Chromium claims native HLS support it does not have.
  // No liveSync* settings: any of them overrides the playlist's PART-HOLD-BACK / HOLD-BACK in hls.js.
  // maxLiveSyncPlaybackRate: catch up (up to 10% faster) to PART-HOLD-BACK when a join lands further behind.
  // 'defaults': nothing but lowLatencyMode (itself true by default in hls.js 1.x).
  const base = mode === 'tuned' ? { lowLatencyMode: ll, maxLiveSyncPlaybackRate: ll ? 1.1 : 1 } : { lowLatencyMode: ll };
  const h = new Hls(Object.assign(base, extra));
  window.hlsPlayer = h;
  h.on(Hls.Events.ERROR, (_e, d) => { m.errors.push(d.details + (d.fatal ? ' fatal' : '')); ev(d.details + (d.fatal ? ' fatal' : '') + (d.frag ? ' frag ' + d.frag.sn + (d.part ? '.' + d.part.index : '') : '') + (typeof d.hole === 'number' ? ' hole ' + d.hole.toFixed(2) : '')); if (d.fatal) h.startLoad(); });
  // Slow loads (a part or playlist that took over a second from request to last byte): what the player waited on.
  const slow = (kind) => (_e, d) => { const st = (d.part || d.frag || {}).stats || d.stats; if (!st || !st.loading) return;
    const ms = st.loading.end - st.loading.start; if (ms > 1000) ev('slow ' + kind + ' ' + Math.round(ms) + ' ms ' + (d.frag ? d.frag.sn + (d.part ? '.' + d.part.index : '') : (d.details ? 'msn ' + d.details.endSN + '.' + d.details.endPartIndex : ''))); };
  h.on(Hls.Events.FRAG_LOADED, slow('frag')); h.on(Hls.Events.LEVEL_LOADED, slow('playlist'));
  h.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => ev('level ' + d.level));
  // The lowest rendition: latency does not depend on it, and decoding 720p would take CPU from the chain under test.
  h.on(Hls.Events.MANIFEST_PARSED, () => { h.autoLevelCapping = 0; });
  h.loadSource(src); h.attachMedia(v);
} else {
  const p = dashjs.MediaPlayer().create();
  window.dashPlayer = p;
  p.updateSettings({ streaming: {
    utcSynchronization: { enabled: true, useManifestDateHeaderTimeSource: false,
      defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: timeUrl } },
    liveCatchup: { enabled: ll },
    abr: { autoSwitchBitrate: { video: false }, initialBitrate: { video: 1 } },
  } });
  if (mode.startsWith('{')) p.updateSettings({ streaming: extra });
  p.on('error', (e) => { const s = String(e && e.error && (e.error.message || e.error.code)); m.errors.push(s); ev('error ' + s); });
  p.on('playbackRateChanged', (e) => ev('rate ' + Number(e.playbackRate).toFixed(2)));
  p.on('bufferStalled', () => ev('bufferStalled'));
  p.initialize(v, src, true);
}
v.play().catch(() => {});
setInterval(() => {
  if (v.readyState < 2) return;
  g.drawImage(v, 0, 0, 320, 180);
  const px = g.getImageData(0, 0, 320, 180).data;
  const luma = new Uint8Array(320 * 180);
  for (let i = 0, j = 0; j < luma.length; i += 4, j++) luma[j] = (px[i] * 77 + px[i + 1] * 150 + px[i + 2] * 29) >> 8;
  const t = WellspringStamp.readStamp(luma, 320, 180);
  const now = Date.now();
  // Media buffered ahead of the playhead: what the player holds back beyond what it has not loaded yet.
  const b = v.buffered, ahead = b.length ? b.end(b.length - 1) - v.currentTime : 0;
  if (t === undefined) m.unreadable++; else m.samples.push({ atMs: now, latencyMs: now - t, aheadMs: Math.round(ahead * 1000) });
}, 250);
</script></body></html>`;

async function stampBundle(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('./stamp.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'WellspringStamp',
    write: false,
    target: 'es2020',
  });
  return out.outputFiles[0]!.text;
}

/** Serves the meter page and the player scripts on 127.0.0.1 (any origin works: the media comes through MSE). */
async function pageServer(player: 'hls' | 'dash'): Promise<{ server: Server; base: string }> {
  const stamp = await stampBundle();
  const lib = readFileSync(
    player === 'hls'
      ? require.resolve('hls.js/dist/hls.min.js')
      : require.resolve('dashjs') /* the UMD build, by its require condition */,
  );
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (type: string, body: string | Buffer): void => {
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (path === '/meter.html') send('text/html', PAGE);
    else if (path === '/stamp.js') send('application/javascript', stamp);
    else if (path === '/player.js') send('application/javascript', lib);
    else if (path === '/time') send('text/plain', new Date().toISOString());
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { server, base: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
}

/**
 * Debian's Chromium, headless, quiet on a closed network (the flags from the field notes). A persistent context,
 * because Playwright refuses --user-data-dir in args.
 */
export async function launchChromium(
  profileDir: string,
  executablePath = '/usr/bin/chromium',
): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

export async function meter(o: MeterOptions): Promise<MeterResult> {
  const { server, base } = await pageServer(o.player);
  const profile = mkdtempSync(join(tmpdir(), 'ws-meter-'));
  const ll = o.lowLatency ?? true;
  const timeUrl = o.timeUrl ?? new URL('/time', o.url).href;
  const ctx = await launchChromium(profile, o.chromium);
  try {
    const page = await ctx.newPage();
    // What the page says about itself (script errors, console errors): kept for a join that never starts.
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => {
      if (pageErrors.length < 20) pageErrors.push(`pageerror ${e.message}`);
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' && pageErrors.length < 20) pageErrors.push(`console ${msg.text()}`);
    });
    const cfg =
      typeof o.playerConfig === 'object' ? JSON.stringify(o.playerConfig) : (o.playerConfig ?? 'tuned');
    const q = new URLSearchParams({ src: o.url, player: o.player, ll: ll ? '1' : '0', time: timeUrl, cfg });
    // Processes started later (the page's renderer, media) inherit it from their parent.
    if (o.nice) reniceBrowser(profile, o.nice);
    await page.goto(`${base}/meter.html?${q}`);
    const started = await page
      .waitForFunction(
        () => (window as unknown as { meter: { playing: boolean } }).meter.playing,
        undefined,
        { timeout: 60_000 },
      )
      .then(() => true)
      .catch(() => false);
    if (o.nice) reniceBrowser(profile, o.nice);
    if (!started) {
      const errors = await page.evaluate(() =>
        (window as unknown as { meter: { errors: string[] } }).meter.errors.slice(0, 10),
      );
      // Where the element stood after 60 s, and the player's own events: a join that never starts is rare and
      // not reproducible at will, so everything needed to tell why goes into the report.
      const state = await page.evaluate(() => {
        const w = window as unknown as { meter: { events: Array<{ what: string }> } };
        const v = document.querySelector('video')!;
        const ranges: string[] = [];
        for (let i = 0; i < v.buffered.length; i++)
          ranges.push(`${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`);
        return [
          `video readyState ${v.readyState} networkState ${v.networkState} paused ${v.paused} currentTime ${v.currentTime.toFixed(2)} buffered [${ranges.join(', ')}] error ${v.error?.message ?? v.error?.code ?? 'none'}`,
          ...w.meter.events.slice(-20).map((e) => `event ${e.what}`),
        ];
      });
      return {
        url: o.url,
        player: o.player,
        lowLatency: ll,
        samples: [],
        unreadable: 0,
        stalls: 0,
        stalledMs: 0,
        errors: ['playback never started within 60 s', ...errors, ...state, ...pageErrors],
      };
    }
    await new Promise((r) => setTimeout(r, (o.warmupSec ?? 10) * 1000));
    // Count from here: the player has joined and settled.
    await page.evaluate(() => {
      const m = (
        window as unknown as {
          meter: {
            samples: unknown[];
            unreadable: number;
            stalls: number;
            stalledMs: number;
            errors: unknown[];
            stallList: unknown[];
            events: unknown[];
          };
        }
      ).meter;
      m.stallList = [];
      m.events = [];
      m.samples = [];
      m.unreadable = 0;
      m.stalls = 0;
      m.stalledMs = 0;
      m.errors = [];
    });
    const countFromMs = Date.now();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const m = await page.evaluate(() => {
      const w = (
        window as unknown as {
          meter: {
            samples: Array<{ atMs: number; latencyMs: number; aheadMs?: number }>;
            unreadable: number;
            stalls: number;
            stalledMs: number;
            stallStart: number;
            stallAt: number;
            errors: string[];
            stallList: Array<{ atMs: number; ms: number }>;
            events: Array<{ atMs: number; what: string }>;
          };
        }
      ).meter;
      const open = w.stallStart ? performance.now() - w.stallStart : 0;
      const win = window as unknown as {
        hlsPlayer?: {
          targetLatency: number | null;
          latency: number;
          drift: number;
          latestLevelDetails?: { partHoldBack?: number } | null;
          latencyController?: { stallCount?: number };
        };
        dashPlayer?: { getTargetLiveDelay(): number; getCurrentLiveLatency(): number };
      };
      const playerView = win.hlsPlayer
        ? {
            targetLatencySec: win.hlsPlayer.targetLatency,
            latencySec: win.hlsPlayer.latency,
            drift: win.hlsPlayer.drift,
            // What its target is made of: PART-HOLD-BACK as parsed, plus liveSyncOnStallIncrease per stall it counted
            // (hls.js counts buffer stalls before the first frame too, which the meter does not).
            partHoldBackSec: win.hlsPlayer.latestLevelDetails?.partHoldBack,
            hlsStallCount: win.hlsPlayer.latencyController?.stallCount,
          }
        : win.dashPlayer
          ? {
              targetLatencySec: win.dashPlayer.getTargetLiveDelay(),
              latencySec: win.dashPlayer.getCurrentLiveLatency(),
            }
          : undefined;
      return {
        samples: w.samples,
        unreadable: w.unreadable,
        stalls: w.stalls,
        stalledMs: Math.round(w.stalledMs + open),
        errors: w.errors.slice(0, 20),
        stallList: open ? [...w.stallList, { atMs: w.stallAt, ms: Math.round(open) }] : w.stallList,
        events: w.events,
        playerView,
      };
    });
    return { url: o.url, player: o.player, lowLatency: ll, countFromMs, ...m };
  } finally {
    await ctx.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
