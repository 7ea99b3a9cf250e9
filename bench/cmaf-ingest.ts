/**
 * npm run bench:cmaf — DASH-IF CMAF ingest (issue #10): the time from a fragment's last byte leaving the sender
 * to an LL-HLS client holding a playlist that announces it as a part, p50/p99. One process runs the ingest (its
 * HTTP listener), a manifest worker and the reader over a private redis-server. The sender replays a CMAF track
 * made by ffmpeg (320x240 H.264, a keyframe every second, one fragment per 200 ms) as one chunked POST paced in
 * real time; the client does blocking reloads (`_HLS_msn`/`_HLS_part` on the preload hint) on the reader
 * directly. Reference, same run: a plain playlist GET's round trip (the floor of any announcement).
 * Prints JSON. `runCmafIngestBench()` is exported for bench/put.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Parser } from 'm3u8-parser';
import { parseConfig } from '../src/config.js';
import { CmafStreamReader } from '../src/core/index.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { startRedisServer } from '../tools/process/redis-server.js';
import { startNode } from '../workers/compose.js';
import { summarize } from './stats.js';

const KEY = 'bench-cmaf-key-0001';

export interface CmafBenchOptions {
  seconds?: number;
  fragmentMs?: number;
}

interface Fragment {
  bytes: Uint8Array;
  startMs: number;
}

/** A CMAF video track from ffmpeg, split into its init segment and fragments. */
function makeTrack(seconds: number, fragmentMs: number): { init: Uint8Array; fragments: Fragment[] } {
  const dir = mkdtempSync(join(os.tmpdir(), 'wellspring-bench-cmaf-'));
  try {
    const file = join(dir, 'video.cmfv');
    const r = spawnSync('ffmpeg', [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=320x240:rate=30:duration=${seconds}`,
      ],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-keyint_min', '30'],
      ...['-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-f', 'mp4'],
      ...['-movflags', '+cmaf+frag_keyframe+empty_moov+default_base_moof'],
      ...['-frag_duration', String(fragmentMs * 1000), file],
    ]);
    if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr.toString()}`);
    const reader = new CmafStreamReader();
    let init: Uint8Array | undefined;
    const fragments: Fragment[] = [];
    for (const ev of reader.push(readFileSync(file))) {
      if (ev.kind === 'init') init = ev.bytes;
      else
        fragments.push({
          bytes: ev.bytes,
          startMs: (ev.info.baseMediaDecodeTime * 1000) / reader.initInfo!.timescale,
        });
    }
    return { init: init!, fragments };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as {
    segments: Array<{ uri: string; parts?: Array<{ uri: string }> }>;
    preloadSegment?: { parts?: Array<{ uri: string }>; preloadHints?: Array<{ uri: string }> };
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    })
      .on('error', reject)
      .end();
  });
}

export async function runCmafIngestBench(o: CmafBenchOptions = {}) {
  const seconds = o.seconds ?? Number(process.env.BENCH_SECONDS ?? 20);
  const fragmentMs = o.fragmentMs ?? 200;
  const track = makeTrack(seconds, fragmentMs);
  const redis = await startRedisServer();
  const config = parseConfig({
    redisUrl: redis.url,
    keyPrefix: 'benchcmaf',
    logLevel: 'error',
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: 0 },
    httpIngest: { host: '127.0.0.1', port: 0 },
    defaults: { segmentSec: 1, partSec: fragmentMs / 1000 },
    streams: [{ name: 'bench', key: KEY, ingest: { type: 'cmaf', tracks: ['video'] } }],
  });
  const node = await startNode(
    config,
    ['ingest', 'manifest', 'reader'],
    createLogger('error', 'bench', 2),
    createMetrics(),
  );
  const playlist = `http://127.0.0.1:${node.httpPort}/live/bench/video/index.m3u8`;
  const sentAt: number[] = [];
  try {
    // The sender: header, then each fragment when its media time comes (a live encoder's pace).
    const post = request({
      host: '127.0.0.1',
      port: node.httpIngestPort,
      path: `/ingest/bench/video.cmfv?key=${KEY}`,
      method: 'POST',
      headers: { 'Transfer-Encoding': 'chunked', 'Content-Type': 'video/mp4' },
    });
    post.on('error', () => undefined);
    post.write(track.init);
    const t0 = performance.now();
    const sending = (async () => {
      for (const [i, f] of track.fragments.entries()) {
        const due = t0 + f.startMs + fragmentMs; // the fragment is complete at its end
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await new Promise<void>((r) => post.write(f.bytes, () => r()));
        sentAt[i] = performance.now();
      }
      await new Promise<void>((r) => post.end(() => r()));
    })();

    // The client: the n-th part announced is the n-th fragment sent.
    const samples: number[] = [];
    const seen = new Set<string>();
    let hint: string | undefined;
    const until = t0 + seconds * 1000;
    while (performance.now() < until) {
      const q = hint ? `?${hint}` : '';
      const r = await getText(`${playlist}${q}`).catch(() => ({ status: 0, text: '' }));
      const at = performance.now();
      if (r.status !== 200) {
        await new Promise((res) => setTimeout(res, 20));
        continue;
      }
      const m = parse(r.text);
      const parts = [...m.segments.flatMap((s) => s.parts ?? []), ...(m.preloadSegment?.parts ?? [])];
      for (const p of parts) {
        if (seen.has(p.uri)) continue;
        const n = seen.size;
        seen.add(p.uri);
        if (sentAt[n] !== undefined && n > 0) samples.push(at - sentAt[n]!);
      }
      const h = /part-(\d+)\.(\d+)\.m4s/.exec(m.preloadSegment?.preloadHints?.[0]?.uri ?? '');
      hint = h ? `_HLS_msn=${h[1]}&_HLS_part=${h[2]}` : undefined;
    }
    await sending;
    const reference: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await getText(playlist);
      reference.push(performance.now() - t);
    }
    return {
      bench: 'cmaf-ingest',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: {
        seconds,
        fragmentMs,
        segmentSec: 1,
        partSec: fragmentMs / 1000,
        video: '320x240 H.264 30 fps',
      },
      fragments: { sent: sentAt.length, announced: seen.size },
      fragmentToPlaylistMs: summarize(samples),
      reference: { playlistGetMs: summarize(reference) },
    };
  } finally {
    agent.destroy();
    await node.stop();
    await redis.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await runCmafIngestBench(), null, 2));
  process.exit(0);
}
