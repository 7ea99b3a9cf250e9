/**
 * bench:dvr — what a DVR window costs to render and to serve (issue #11), at 2 h and 24 h windows of 2 s
 * segments (3,600 and 43,200 segments; one discontinuity half-way).
 *
 * Render (pure, in process):
 * - `fromScratch`: the whole playlist rendered from its segments (marshalPlaylist(buildDvrPlaylist)), the cost
 *   every new segment paid before (the reference);
 * - `incremental`: DvrPlaylistRenderer after one new segment (the window slides by one): what a request pays
 *   once the run changed;
 * - `dvrMpdFromScratch`: the whole DVR MPD built from every segment (renderMpd(buildDvrMpd)), the cost every new
 *   segment paid before DvrMpdRenderer (the reference);
 * - `dvrMpdIncremental`: DvrMpdRenderer after one new segment (kept chunk summaries): what a dvr.mpd request pays
 *   once the run changed.
 * Serve (a real redis-server, the SegmentArchive on Redis holding the window, the newest 20 segments in the live
 * timeline, the reader's handler behind a node:http server on a free port, requests over loopback):
 * - `firstRequest`: a reader that has never seen the stream (reads every archive record, renders everything);
 * - `unchanged`: back-to-back requests while no segment is added (refreshes from Redis every 500 ms included);
 * - `afterSegment`: the first request after a new segment was published and archived (refresh + render);
 * - `afterSegmentMpd`: then the first dvr.mpd request (its render; the refresh was done by the request before);
 * - `archiveReadAll`: reading the whole window's records from Redis in one go (the reference for a refresh).
 * Prints one JSON object: per window, p50/p95/p99/max in ms, playlist bytes, heap growth of the reader's cache.
 */
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig, redisTarget } from '../src/config.js';
import {
  type DvrSegment,
  DvrMpdRenderer,
  DvrPlaylistRenderer,
  buildDvrMpd,
  buildDvrPlaylist,
  marshalPlaylist,
  renderMpd,
  type RenditionDescription,
} from '../src/core/index.js';
import { REFRESH_MS } from '../src/reader/timeshift.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { archiveSegment } from '../test/support/fixtures.js';
import { serveReader } from '../test/support/reader-server.js';
import { startRedisServer } from '../tools/process/redis-server.js';
import { summarize, timeLoop } from './stats.js';

const TS = 90_000;
const SEG = 180_000;
const HOT = 20;
const RENDITION: RenditionDescription = {
  name: '720p',
  kind: 'video',
  codec: 'avc1.64001f',
  timescale: TS,
  width: 1280,
  height: 720,
  frameRate: 30,
  nominalBitrate: 2_500_000,
  segmentTargetTicks: SEG,
  partTargetTicks: 18_000,
  order: 0,
};

/** The synthetic archive: 2 s segments from `t0`; the encoder reconnects at `disc` (a new period 3 s later). */
const makeSegment = (msn: number, t0: number, disc: number): DvrSegment =>
  archiveSegment(msn, {
    t0,
    timescale: TS,
    segmentTicks: SEG,
    disc,
    gapMs: 3000,
    byteLength: (m) => 600_000 + (m % 1000),
  });

// A real collection before each heap reading (tsx runs without --expose-gc: global.gc was undefined, and the heap
// growth was whatever garbage happened to be left, even negative).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function renderCosts(n: number): Promise<Record<string, unknown>> {
  const t0 = Date.UTC(2026, 0, 1);
  const extra = 400;
  const all = Array.from({ length: n + extra }, (_, i) => makeSegment(i, t0, Math.floor(n / 2)));
  const view = (k: number) => ({
    timescale: TS,
    segmentTargetTicks: SEG,
    segments: all.slice(k, k + n),
    ended: false,
  });
  const fromScratch = timeLoop(() => void marshalPlaylist(buildDvrPlaylist(view(0))), 3000);
  const renderer = new DvrPlaylistRenderer();
  renderer.render(view(0));
  const incremental: number[] = [];
  let bytes = 0;
  for (let k = 1; k <= extra; k++) {
    const p = view(k);
    const t = performance.now();
    bytes = renderer.render(p).length;
    incremental.push(performance.now() - t);
  }
  const mpdInput = (k: number) => {
    const segments = all.slice(k, k + n);
    return {
      tracks: [{ description: RENDITION, partTargetTicks: 18_000, bandwidth: 2_600_000, segments }],
      o: {
        publishTimeMs: segments[segments.length - 1]!.wallClockMs + 2500,
        windowMs: n * 2000,
        utcTimingUrl: '/time',
        ended: false,
      },
    };
  };
  // The reference is O(window): a few runs at 24 h already take seconds on a busy box.
  const mpdFromScratch: number[] = [];
  for (let k = 1; k <= 10; k++) {
    const { tracks, o } = mpdInput(k);
    const t = performance.now();
    renderMpd(buildDvrMpd(tracks, o));
    mpdFromScratch.push(performance.now() - t);
  }
  const mpdRenderer = new DvrMpdRenderer();
  mpdRenderer.render(mpdInput(0).tracks, mpdInput(0).o);
  const mpdIncremental: number[] = [];
  let mpdBytes = 0;
  for (let k = 1; k <= extra; k++) {
    const { tracks, o } = mpdInput(k);
    const t = performance.now();
    mpdBytes = mpdRenderer.render(tracks, o).length;
    mpdIncremental.push(performance.now() - t);
  }
  return {
    playlistBytes: bytes,
    fromScratchMs: summarize(fromScratch),
    incrementalMs: summarize(incremental),
    chunksRendered: renderer.rendered,
    chunksReused: renderer.reused,
    dvrMpdBytes: mpdBytes,
    dvrMpdFromScratchMs: summarize(mpdFromScratch),
    dvrMpdIncrementalMs: summarize(mpdIncremental),
    mpdChunksSummarized: mpdRenderer.rendered,
    mpdChunksReused: mpdRenderer.reused,
  };
}

async function serveCosts(n: number, redisUrl: string): Promise<Record<string, unknown>> {
  const store = createRedisStore({
    target: redisTarget(parseConfig({ redisUrl })),
    prefix: `bench${n}`,
    role: 'command',
  });
  const stream = 'dvr';
  const t0 = Date.now() - n * 2000 - 6000;
  const seg = (msn: number): DvrSegment => makeSegment(msn, t0, Math.floor(n / 2));
  await store.streams.mark(
    stream,
    { segmentSec: 2, partSec: 0.2, windowSec: 30, dvrWindowSec: n * 2, renditions: [RENDITION.name] },
    'live',
    Date.now(),
  );
  for (const id of [0, 1]) await store.media.publishInit(stream, RENDITION, id, Buffer.from('init'), 86_400);
  const publish = async (msn: number): Promise<void> => {
    await store.media.publishSegment(stream, RENDITION.name, { ...seg(msn), parts: [] }, Buffer.from('x'), {
      segmentSec: 600,
      initSec: 600,
      keepSegments: HOT,
      keepPartsSegments: 2,
    });
  };
  const loadStart = performance.now();
  for (let i = 0; i < n; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, n - i) }, (_, j) =>
        store.archive.record(stream, RENDITION.name, seg(i + j)),
      ),
    );
  for (let msn = n - HOT; msn < n; msn++) await publish(msn);
  const loadMs = performance.now() - loadStart;

  const archiveReadAll: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await store.archive.range(stream, RENDITION.name, -Infinity, Infinity, n + 10);
    archiveReadAll.push(performance.now() - t);
  }

  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const reader = await serveReader(store);
  const url = `${reader.base}/live/${stream}/${RENDITION.name}/dvr.m3u8`;
  const request = async (u = url): Promise<{ ms: number; bytes: number }> => {
    const t = performance.now();
    const r = await fetch(u);
    const body = await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${u} answered ${r.status}`);
    return { ms: performance.now() - t, bytes: body.byteLength };
  };
  const mpdUrl = `${reader.base}/live/${stream}/dvr.mpd`;
  const first = await request();
  gc();
  const heapGrowthMB = Math.round(((process.memoryUsage().heapUsed - heap0) / 1048576) * 10) / 10;

  const unchanged: number[] = [];
  const end = performance.now() + 3000;
  while (performance.now() < end) unchanged.push((await request()).ms);

  const mpdFirst = await request(mpdUrl);
  const afterSegment: number[] = [];
  const afterSegmentMpd: number[] = [];
  for (let msn = n; msn < n + 40; msn++) {
    await publish(msn);
    await store.archive.record(stream, RENDITION.name, seg(msn));
    await sleep(REFRESH_MS + 20);
    afterSegment.push((await request()).ms);
    afterSegmentMpd.push((await request(mpdUrl)).ms);
  }
  await reader.close();
  await store.close();
  return {
    archiveLoadSec: Math.round(loadMs / 100) / 10,
    playlistBytes: first.bytes,
    firstRequestMs: Math.round(first.ms * 10) / 10,
    readerHeapGrowthMB: heapGrowthMB,
    unchangedMs: summarize(unchanged),
    afterSegmentMs: summarize(afterSegment),
    mpdBytes: mpdFirst.bytes,
    mpdFirstRequestMs: Math.round(mpdFirst.ms * 10) / 10,
    afterSegmentMpdMs: summarize(afterSegmentMpd),
    archiveReadAllMs: summarize(archiveReadAll),
  };
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const windows = [
    { name: '2h', segments: 3_600 },
    { name: '24h', segments: 43_200 },
  ];
  const out: Record<string, unknown> = {
    bench: 'dvr',
    loadAverage1m: { before: Math.round(loadavg()[0]! * 100) / 100 } as Record<string, number>,
    config: {
      segmentSec: 2,
      renditions: 1,
      chunkSegments: 100,
      refreshMs: REFRESH_MS,
      hotSegments: HOT,
      node: process.version,
      redis: 'redis-server (tools/process/redis-server.ts), standalone, loopback',
    },
    windows: {} as Record<string, unknown>,
  };
  try {
    for (const w of windows) {
      const render = await renderCosts(w.segments);
      const serve = await serveCosts(w.segments, redis.url);
      (out.windows as Record<string, unknown>)[w.name] = { segments: w.segments, render, serve };
    }
  } finally {
    await redis.stop();
  }
  (out.loadAverage1m as Record<string, number>).after = Math.round(loadavg()[0]! * 100) / 100;
  console.log(JSON.stringify(out, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
