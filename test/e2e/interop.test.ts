/**
 * Interoperability suite (#14): one live stream (RTMP publish, the lean test ladder) served through Varnish and
 * played by players and demuxers nobody on the team wrote, plus validators that are not ours.
 *
 * - Validators: every playlist (multivariant, media, blocking reload, _HLS_skip=YES delta, DVR) through hls-parser in
 *   strict mode; both MPDs against MPEG's DASH MPD schema with xmllint (fixtures/dash-schema); init + segments of
 *   video and audio through mp4box.js (a second ISO-BMFF parser) and ffprobe: constant 1024-sample AAC frames and a
 *   video DTS step of exactly one frame.
 * - Players, in parallel on the same stream: hls.js (default, and lowLatencyMode: false), Shaka Player (HLS and
 *   DASH, low latency on and off) and dash.js (DASH and LL-DASH) in pages of one Chromium; ffmpeg (with -re, as a
 *   player paces itself) and GStreamer playbin3 (fake sinks, sync=true) on master.m3u8 and both MPDs. Each must
 *   start and play 20 s without a fatal error or a stall (a stall: the position not advancing for more than 1 s
 *   while not ended). Per client: name, version, format, result, start time, stalls; written as JSON to
 *   os.tmpdir()/wellspring-interop.json and printed as a table (the README's Compatibility table comes from it).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as HLS from 'hls-parser';
import { MP4BoxBuffer, createFile } from 'mp4box';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { chromiumVersion, servePlayerPages, watchPlayback, withChromium } from '../support/browser.js';
import { captureLogger, type Encoder, rtmpEncoder, sleep, testConfig, waitFor } from '../support/harness.js';
import { get } from '../support/player.js';

const STREAM = 'interop';
const KEY = 'interop-secret-key';
const PLAY_SEC = 20;
/** A client that has not started playing by then has failed. */
const START_LIMIT_MS = 50_000;
const STALL_MS = 1000;
/**
 * Browser players of one wave start this far apart. A viewer's player starts alone on its device; here four start
 * in one Chromium on the 2 cores the origin runs on. With all four starting at once, Shaka's plain-HLS player
 * (which starts playing with whatever is buffered: rebufferingGoal 0 by default) stalled once, 0.3 s after its
 * start, for 1.4 s in 2 of 4 full CI runs; why its second segment came late is not established.
 */
const STAGGER_MS = 3000;
const FPS = 30;

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const schemaDir = fileURLToPath(new URL('../../fixtures/dash-schema/', import.meta.url));

let node: NodeHandle;
let logLines: Array<Record<string, unknown>> = [];
let reader2: NodeHandle;
let cdn: EmbeddedCdn;
let enc: Encoder;
const url = (file: string): string => `${cdn.url}/live/${STREAM}/${file}`;
const text = async (file: string): Promise<string> => {
  const r = await get(url(file));
  if (r.status !== 200) throw new Error(`${file}: HTTP ${r.status}`);
  return r.body.toString();
};
const numberBased = (mpd: string): boolean => /startNumber="\d+" duration="\d+"/.test(mpd);

beforeAll(async () => {
  // A 12 s window: a delta playlist (_HLS_skip=YES) skips what is older than six target durations.
  const config = testConfig({
    streams: [{ name: STREAM, key: KEY, ingest: { type: 'rtmp' }, windowSec: 12 }],
  });
  const { log, lines } = captureLogger();
  logLines = lines;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  // Two readers behind Varnish, as deployed: its health probe may drop one that a saturated machine makes slow.
  reader2 = await startNode(config, ['reader'], log, createMetrics());
  cdn = await startVarnishCdn([node.httpPort!, reader2.httpPort!], template);
  enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${KEY}`, 170);
  // Live once both MPDs address the live period by number and the window holds a few segments.
  await waitFor(
    async () => {
      const [m, ll, pl] = await Promise.all([
        get(url('manifest.mpd')),
        get(url('manifest-ll.mpd')),
        get(url('360p/index.m3u8')),
      ]);
      if (m.status !== 200 || ll.status !== 200 || pl.status !== 200) return false;
      const segs = (pl.body.toString().match(/^#EXTINF/gm) ?? []).length;
      return numberBased(m.body.toString()) && numberBased(ll.body.toString()) && segs >= 9;
    },
    45_000,
    'stream live with number-based MPDs',
  );
});

afterAll(async () => {
  await enc?.stop();
  await node?.stop();
  await reader2?.stop();
  await cdn?.stop();
});

/** The media playlist URIs of the multivariant playlist: variants and audio renditions. */
function mediaUris(master: string): string[] {
  const m = HLS.parse(master);
  if (!(m instanceof HLS.types.MasterPlaylist)) throw new Error('not a multivariant playlist');
  const uris = new Set<string>();
  for (const v of m.variants) {
    uris.add(v.uri);
    for (const a of v.audio) if (a.uri) uris.add(a.uri);
  }
  return [...uris];
}

/** The init segment and the last `n` complete segments of a media playlist, concatenated. */
async function initAndSegments(playlist: string, n: number): Promise<Buffer> {
  const dir = playlist.slice(0, playlist.lastIndexOf('/') + 1);
  const body = await text(playlist);
  const map = /#EXT-X-MAP:URI="([^"]+)"/g;
  let init = '';
  for (let x = map.exec(body); x; x = map.exec(body)) init = x[1]!;
  const segs = [...body.matchAll(/^(seg-\d+\.m4s)$/gm)].map((x) => x[1]!).slice(-n);
  expect(segs.length).toBe(n);
  const parts = await Promise.all([init, ...segs].map(async (f) => (await get(url(dir + f))).body));
  return Buffer.concat(parts);
}

interface Mp4Sample {
  dts: number;
  duration: number;
  is_sync: boolean;
}

/** mp4box.js over an fMP4 (init + fragments): the first track's codec, timescale and samples. */
function mp4boxSamples(buf: Buffer): { codec: string; timescale: number; samples: Mp4Sample[] } {
  const f = createFile();
  let codec = '';
  let timescale = 0;
  const samples: Mp4Sample[] = [];
  let error: unknown;
  f.onError = (e: unknown) => (error = e);
  f.onReady = (info: { tracks: Array<{ id: number; codec: string; timescale: number }> }) => {
    const t = info.tracks[0]!;
    codec = t.codec;
    timescale = t.timescale;
    f.setExtractionOptions(t.id, null, { nbSamples: 100_000 });
    f.start();
  };
  f.onSamples = (_id: number, _user: unknown, s: Mp4Sample[]) => void samples.push(...s);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
  f.appendBuffer(MP4BoxBuffer.fromArrayBuffer(ab, 0));
  f.flush();
  if (error) throw new Error(`mp4box: ${String(error)}`);
  return { codec, timescale, samples };
}

/** ffprobe's packets of the first stream: dts and duration in the stream's time base. */
function ffprobePackets(file: string): {
  timeBase: string;
  packets: Array<{ dts: number; duration: number }>;
} {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      '0',
      '-show_entries',
      'stream=time_base:packet=dts,duration',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as {
    streams: Array<{ time_base: string }>;
    packets: Array<{ dts: number; duration: number }>;
  };
  return { timeBase: j.streams[0]!.time_base, packets: j.packets };
}

const steps = (xs: number[]): number[] => xs.slice(1).map((x, i) => x - xs[i]!);

describe('validators on the live stream', () => {
  it('every playlist parses with hls-parser in strict mode: multivariant, media, blocking, _HLS_skip=YES, DVR', async () => {
    HLS.setOptions({ strictMode: true, silent: true });
    try {
      const master = await text('master.m3u8');
      const uris = mediaUris(master);
      // Two video renditions and the audio one.
      expect(uris.length).toBe(3);
      let parsed = 1;
      for (const uri of uris) {
        const dir = uri.slice(0, uri.lastIndexOf('/') + 1);
        const live = await text(uri);
        const pl = HLS.parse(live);
        expect(pl).toBeInstanceOf(HLS.types.MediaPlaylist);
        const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(live)!;
        expect(hint, `${uri} preload hint`).not.toBeNull();
        const blocking = await text(`${uri}?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}`);
        expect(blocking).toContain(`part-${hint[1]}.${hint[2]}.m4s`);
        const skip = await text(`${uri}?_HLS_skip=YES`);
        expect(skip).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=');
        const dvr = await text(`${dir}dvr.m3u8`);
        for (const [what, body] of [
          ['blocking', blocking],
          ['skip', skip],
          ['dvr', dvr],
        ] as const) {
          let p: unknown;
          expect(() => (p = HLS.parse(body)), `${uri} ${what}`).not.toThrow();
          expect(p, `${uri} ${what}`).toBeInstanceOf(HLS.types.MediaPlaylist);
          parsed++;
        }
        parsed++;
      }
      expect(parsed).toBe(1 + 4 * uris.length);
    } finally {
      HLS.setOptions({ strictMode: false });
    }
  });

  it('both MPDs validate against the MPEG DASH MPD schema (xmllint)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-interop-xsd-'));
    try {
      for (const file of ['manifest.mpd', 'manifest-ll.mpd']) {
        const path = join(dir, file);
        writeFileSync(path, await text(file));
        const r = spawnSync(
          'xmllint',
          ['--nonet', '--noout', '--schema', join(schemaDir, 'DASH-MPD.xsd'), path],
          { encoding: 'utf8', env: { ...process.env, XML_CATALOG_FILES: join(schemaDir, 'catalog.xml') } },
        );
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain(`${path} validates`);
      }
      // The validator rejects what the schema forbids (it is really checking).
      const bad = join(dir, 'bad.mpd');
      writeFileSync(bad, (await text('manifest.mpd')).replace('type="dynamic"', 'type="live"'));
      const r = spawnSync(
        'xmllint',
        ['--nonet', '--noout', '--schema', join(schemaDir, 'DASH-MPD.xsd'), bad],
        {
          encoding: 'utf8',
          env: { ...process.env, XML_CATALOG_FILES: join(schemaDir, 'catalog.xml') },
        },
      );
      expect(r.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('CMAF media reads the same through mp4box.js and ffprobe: AAC frames of 1024 samples, video DTS one frame apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-interop-mp4-'));
    try {
      const master = await text('master.m3u8');
      for (const [rendition, kind] of [
        ['360p', 'video'],
        ['240p', 'video'],
        ['audio', 'audio'],
      ] as const) {
        const buf = await initAndSegments(`${rendition}/index.m3u8`, 3);
        // mp4box.js: an independent ISO-BMFF parser.
        const box = mp4boxSamples(buf);
        expect(master, `${rendition} codec ${box.codec}`).toContain(box.codec);
        expect(box.samples.length).toBeGreaterThan(kind === 'video' ? 2 * FPS : 100);
        const boxSteps = steps(box.samples.map((s) => s.dts));
        const frame = kind === 'video' ? box.timescale / FPS : 1024;
        expect(Number.isInteger(frame)).toBe(true);
        expect(new Set(boxSteps), `${rendition} mp4box dts steps`).toEqual(new Set([frame]));
        expect(new Set(box.samples.map((s) => s.duration)), `${rendition} mp4box durations`).toEqual(
          new Set([frame]),
        );
        // ffprobe over the same bytes.
        const file = join(dir, `${rendition}.mp4`);
        writeFileSync(file, buf);
        const probe = ffprobePackets(file);
        expect(probe.timeBase).toBe(`1/${box.timescale}`);
        expect(probe.packets.length).toBe(box.samples.length);
        expect(new Set(steps(probe.packets.map((p) => Number(p.dts)))), `${rendition} ffprobe dts`).toEqual(
          new Set([frame]),
        );
        // ffprobe leaves some packets' duration out (a fragment's last); every one it gives is a whole frame.
        if (kind === 'audio') {
          const durations = probe.packets
            .filter((p) => p.duration !== undefined)
            .map((p) => Number(p.duration));
          expect(durations.length).toBeGreaterThanOrEqual(probe.packets.length - 3);
          expect(new Set(durations), 'ffprobe AAC durations').toEqual(new Set([1024]));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface ClientResult {
  client: string;
  version: string;
  format: 'HLS' | 'LL-HLS' | 'DASH' | 'LL-DASH';
  manifest: string;
  result: 'plays' | 'fails';
  /** From launch to the first advance of the position, ms. */
  startMs: number | null;
  /** Position advanced during the observed PLAY_SEC seconds after the start, s. */
  playedSec: number;
  stalls: number;
  stalledMs: number;
  /** Browsers: how much had been played when each stall began, s. */
  stallsAtSec?: number[];
  fatal: string[];
  /** Non-fatal errors the client reported (kept for the record, not a failure). */
  warnings: string[];
  /** Why this client was run a second time (only GStreamer's own assertion crash), with the first run's result. */
  retried?: { reason: string; first: Omit<ClientResult, 'retried'> };
}

interface BrowserCase {
  client: string;
  player: 'hls' | 'shaka' | 'dash';
  format: ClientResult['format'];
  manifest: string;
  ll: boolean;
}

const BROWSER_CASES: BrowserCase[] = [
  { client: 'hls.js (default config)', player: 'hls', format: 'LL-HLS', manifest: 'master.m3u8', ll: true },
  {
    client: 'hls.js (lowLatencyMode: false)',
    player: 'hls',
    format: 'HLS',
    manifest: 'master.m3u8',
    ll: false,
  },
  {
    client: 'Shaka Player (lowLatencyMode)',
    player: 'shaka',
    format: 'LL-HLS',
    manifest: 'master.m3u8',
    ll: true,
  },
  { client: 'Shaka Player', player: 'shaka', format: 'HLS', manifest: 'master.m3u8', ll: false },
  {
    client: 'Shaka Player (lowLatencyMode)',
    player: 'shaka',
    format: 'LL-DASH',
    manifest: 'manifest-ll.mpd',
    ll: true,
  },
  { client: 'Shaka Player', player: 'shaka', format: 'DASH', manifest: 'manifest.mpd', ll: false },
  {
    client: 'dash.js (liveCatchup)',
    player: 'dash',
    format: 'LL-DASH',
    manifest: 'manifest-ll.mpd',
    ll: true,
  },
  { client: 'dash.js', player: 'dash', format: 'DASH', manifest: 'manifest.mpd', ll: false },
];

/** Browser cases, each in its own page of one Chromium, at the same time. */
async function runBrowsers(cases: BrowserCase[]): Promise<ClientResult[]> {
  const pages = await servePlayerPages({ stallMs: STALL_MS });
  try {
    return await withChromium(async (ctx) => {
      const chromium = await chromiumVersion(ctx);
      return Promise.all(
        cases.map(async (c, i): Promise<ClientResult> => {
          await sleep(i * STAGGER_MS);
          const page = await ctx.newPage();
          await page.goto(
            pages.url('play.html', {
              src: url(c.manifest),
              player: c.player,
              ll: c.ll ? '1' : '0',
              time: `${cdn.url}/time`,
            }),
          );
          const r = await watchPlayback(page, {
            startTimeoutMs: START_LIMIT_MS,
            playSec: PLAY_SEC,
            until: 'window',
          });
          await page.close();
          const open = r.stallSince ? 1 : 0;
          const playedSec = r.played;
          const ok =
            r.startMs !== null && r.fatal.length === 0 && r.stalls === 0 && playedSec >= PLAY_SEC - 1;
          return {
            client: c.client,
            version: `${r.version} (Chromium ${chromium})`,
            format: c.format,
            manifest: c.manifest,
            result: ok ? 'plays' : 'fails',
            startMs: r.startMs,
            playedSec: Math.round(playedSec * 10) / 10,
            stalls: r.stalls,
            stalledMs: Math.round(r.stalledMs) + open,
            stallsAtSec: r.stallsAt,
            fatal: r.fatal,
            warnings: r.warnings,
          };
        }),
      );
    });
  } finally {
    pages.close();
  }
}

/** Position samples of a native client: wall time (ms since launch) and media position (s). */
interface Track {
  startMs: number | null;
  firstPos: number;
  lastPos: number;
  lastAdvanceMs: number;
  stalls: number;
  stalledMs: number;
}

function newTrack(): Track {
  return { startMs: null, firstPos: 0, lastPos: -1, lastAdvanceMs: 0, stalls: 0, stalledMs: 0 };
}

/** Feeds one position sample; a gap of more than STALL_MS between advances after the start is a stall. */
function feed(t: Track, atMs: number, pos: number): void {
  if (pos <= t.lastPos + 1e-6) return;
  if (t.startMs === null) {
    t.startMs = atMs;
    t.firstPos = pos;
  } else if (atMs - t.lastAdvanceMs > STALL_MS) {
    t.stalls++;
    t.stalledMs += atMs - t.lastAdvanceMs;
  }
  t.lastAdvanceMs = atMs;
  t.lastPos = pos;
}

interface NativeCase {
  client: 'ffmpeg' | 'GStreamer playbin3';
  format: ClientResult['format'];
  manifest: string;
}

const NATIVE_CASES: NativeCase[] = [
  { client: 'ffmpeg', format: 'HLS', manifest: 'master.m3u8' },
  { client: 'ffmpeg', format: 'DASH', manifest: 'manifest.mpd' },
  { client: 'ffmpeg', format: 'LL-DASH', manifest: 'manifest-ll.mpd' },
  { client: 'GStreamer playbin3', format: 'HLS', manifest: 'master.m3u8' },
  { client: 'GStreamer playbin3', format: 'DASH', manifest: 'manifest.mpd' },
  { client: 'GStreamer playbin3', format: 'LL-DASH', manifest: 'manifest-ll.mpd' },
];

const ffmpegVersion = (): string =>
  /ffmpeg version (\S+)/.exec(spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
const gstVersion = (): string =>
  /GStreamer ([\d.]+)/.exec(spawnSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ??
  '?';

/**
 * One native client until it has played PLAY_SEC seconds (or failed): ffmpeg decodes to null at the input's own
 * rate (-re) and reports its output time every 250 ms (-progress); playbin3 renders into fake sinks in real time
 * and prints every video buffer (-v, silent=false).
 */
function runNative(c: NativeCase): Promise<ClientResult> {
  const gst = c.client !== 'ffmpeg';
  const args = gst
    ? [
        '-v',
        'playbin3',
        `uri=${url(c.manifest)}`,
        'video-sink=fakesink name=vsink silent=false sync=true',
        'audio-sink=fakesink sync=true',
      ]
    : [
        '-hide_banner',
        '-nostdin',
        '-nostats',
        '-loglevel',
        'verbose',
        '-re',
        '-i',
        url(c.manifest),
        '-map',
        '0:v:0',
        '-map',
        '0:a:0?',
        '-f',
        'null',
        '-',
        '-progress',
        'pipe:1',
        '-stats_period',
        '0.25',
      ];
  const t0 = performance.now();
  const child: ChildProcess = spawn(gst ? 'gst-launch-1.0' : 'ffmpeg', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const track = newTrack();
  const fatal: string[] = [];
  let tail = '';
  let errTail = '';
  let buffered = '';
  const done = (): boolean => track.startMs !== null && track.lastPos - track.firstPos >= PLAY_SEC;
  const stop = (): void => {
    if (child.exitCode === null) child.kill('SIGINT');
  };
  child.stdout!.on('data', (d: Buffer) => {
    const at = performance.now() - t0;
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (gst) {
        const m = /vsink[^\n]*chain[^\n]*pts: (\d+):(\d+):(\d+\.\d+)/.exec(line);
        if (m) feed(track, at, Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
        if (/^ERROR/.test(line)) fatal.push(line.slice(0, 200));
      } else {
        const m = /^out_time_us=(\d+)/.exec(line);
        if (m) feed(track, at, Number(m[1]) / 1e6);
      }
      tail = (tail + line + '\n').slice(-3000);
    }
    if (done()) stop();
  });
  let requests = '';
  child.stderr!.on('data', (d: Buffer) => {
    const s = d.toString();
    errTail = (errTail + s).slice(-3000);
    // ffmpeg -v verbose names every DASH/HLS media request: the first ones say where it joined.
    for (const m of s.matchAll(/(?:DASH request for url|HLS request for url|Opening) '([^']+)'/g))
      if (requests.length < 1500) requests += `${Math.round(performance.now() - t0)} ms ${m[1]}\n`;
  });
  const limit = setTimeout(stop, START_LIMIT_MS + PLAY_SEC * 1000 + 5000);
  const kill = setTimeout(() => child.kill('SIGKILL'), START_LIMIT_MS + PLAY_SEC * 1000 + 10_000);
  // Watch for a stall that is still open when the client is stopped.
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(limit);
      clearTimeout(kill);
      const endMs = performance.now() - t0;
      if (track.startMs !== null && !done() && endMs - track.lastAdvanceMs > STALL_MS) {
        track.stalls++;
        track.stalledMs += endMs - track.lastAdvanceMs;
      }
      if (!gst && code !== 0 && code !== 255 && !done()) fatal.push(`ffmpeg exited ${code}`);
      if (gst && /ERROR/.test(errTail))
        fatal.push(
          errTail
            .split('\n')
            .find((l) => /ERROR/.test(l))!
            .slice(0, 200),
        );
      const playedSec = track.startMs === null ? 0 : track.lastPos - track.firstPos;
      const ok = track.startMs !== null && fatal.length === 0 && track.stalls === 0 && playedSec >= PLAY_SEC;
      resolve({
        client: c.client,
        version: gst ? gstVersion() : ffmpegVersion(),
        format: c.format,
        manifest: c.manifest,
        result: ok ? 'plays' : 'fails',
        startMs: track.startMs === null ? null : Math.round(track.startMs),
        playedSec: Math.round(playedSec * 10) / 10,
        stalls: track.stalls,
        stalledMs: Math.round(track.stalledMs),
        fatal,
        warnings: ok ? [] : [requests, (tail + '\n' + errTail).slice(-1500)],
      });
    }),
  );
}

/**
 * GStreamer 1.22's adaptivedemux2 sometimes aborts on its own internal assertion when an MPD update lands while a
 * download callback is pending (`gstadaptivedemux-stream.c:1726 ... (stream->pending_cb_id == 0)`): a crash of the
 * demuxer's bookkeeping, not an answer to anything the MPD says. Such a client is run once more and the report
 * keeps the first run; any other failure, or the same crash twice, fails the test.
 */
const GST_ASSERTION =
  /gstadaptivedemux-stream\.c:\d+:gst_adaptive_demux2_stream_on_manifest_update: assertion failed/;

async function runNativeOnce(c: NativeCase): Promise<ClientResult> {
  const first = await runNative(c);
  if (first.result === 'plays' || !first.fatal.some((f) => GST_ASSERTION.test(f))) return first;
  const second = await runNative(c);
  return { ...second, retried: { reason: 'GStreamer adaptivedemux2 assertion (pending_cb_id == 0)', first } };
}

function table(results: ClientResult[]): string {
  const head = ['client', 'version', 'format', 'manifest', 'result', 'start s', 'stalls', 'played s'];
  const rows = results.map((r) => [
    r.client,
    r.version,
    r.format,
    r.manifest,
    r.retried ? `${r.result} (2nd run: GStreamer assertion in the 1st)` : r.result,
    r.startMs === null ? '-' : (r.startMs / 1000).toFixed(1),
    String(r.stalls),
    r.playedSec.toFixed(1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(w[i]!)).join(' | ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...rows.map(line)].join('\n');
}

describe('players on the live stream', () => {
  it(`hls.js, Shaka, dash.js, ffmpeg and GStreamer each start and play ${PLAY_SEC} s without a fatal error or a stall`, async () => {
    // Four waves of clients at a time (HLS in the browser, DASH in the browser, ffmpeg, GStreamer), so that
    // the players' own decoding does not starve the transcoder of a 2-core machine. The load average before each
    // wave goes into the report: a stall on a saturated machine says little about the origin.
    const waves: Array<{ name: string; run: () => Promise<ClientResult[]> }> = [
      {
        name: 'browsers, HLS',
        run: () => runBrowsers(BROWSER_CASES.filter((c) => c.manifest === 'master.m3u8')),
      },
      {
        name: 'browsers, DASH',
        run: () => runBrowsers(BROWSER_CASES.filter((c) => c.manifest !== 'master.m3u8')),
      },
      {
        name: 'ffmpeg',
        run: () => Promise.all(NATIVE_CASES.filter((c) => c.client === 'ffmpeg').map(runNative)),
      },
      {
        name: 'GStreamer',
        run: () => Promise.all(NATIVE_CASES.filter((c) => c.client !== 'ffmpeg').map(runNativeOnce)),
      },
    ];
    const results: ClientResult[] = [];
    const load: Array<{ wave: string; loadavg1: number }> = [];
    for (const w of waves) {
      load.push({ wave: w.name, loadavg1: Math.round(loadavg()[0]! * 100) / 100 });
      results.push(...(await w.run()));
    }
    // When a client failed: what the readers and the CDN answer now, and what the origin logged (warnings up).
    let diagnostics: Record<string, unknown> | undefined;
    if (results.some((r) => r.result !== 'plays')) {
      const status = async (u: string): Promise<number | string> =>
        get(u).then(
          (r) => r.status,
          (e: unknown) => String(e),
        );
      diagnostics = {
        cdnMaster: await status(url('master.m3u8')),
        readers: await Promise.all(
          [node, reader2].map(async (n) => ({
            healthz: await status(`http://127.0.0.1:${n.httpPort}/healthz`),
            master: await status(`http://127.0.0.1:${n.httpPort}/live/${STREAM}/master.m3u8`),
          })),
        ),
        originWarnings: logLines.filter((l) => Number(l.level) >= 40).slice(-40),
      };
    }
    const report = {
      measuredAt: new Date().toISOString(),
      stream: {
        ladder: ['360p', '240p', 'audio'],
        segmentSec: 1,
        partSec: 0.25,
        windowSec: 12,
        cdn: 'Varnish',
      },
      playSec: PLAY_SEC,
      cpus: cpus().length,
      load,
      stallMs: STALL_MS,
      clients: results,
      diagnostics,
    };
    const out = join(tmpdir(), 'wellspring-interop.json');
    writeFileSync(out, JSON.stringify(report, null, 2));
    console.log(`interop results (${out}; load ${JSON.stringify(load)}):\n${table(results)}`);
    const failures = results
      .filter((r) => r.result !== 'plays')
      .map((r) => `${r.client} ${r.format}: ${JSON.stringify({ ...r, version: undefined })}`);
    expect(failures).toEqual([]);
    expect(results).toHaveLength(BROWSER_CASES.length + NATIVE_CASES.length);
  }, 300_000);
});
