/**
 * npm run bench:core — how cheap the packaging core is: parse throughput for a 1 MB CMAF chunk, render rates for
 * a live LL-HLS media playlist, a 2-hour DVR playlist and the MPD, and the manifest worker's cost per part for a
 * live ladder of 3 and 10 renditions (ManifestRenderer over the memory store, skipping untouched files). Prints
 * JSON.
 */
import os from 'node:os';
import {
  CmafStreamReader,
  buildMediaPlaylist,
  buildMpd,
  marshalPlaylist,
  measureBitrate,
  renderMpd,
} from '../src/core/index.js';
import { box, bytes, chunk } from '../test/support/boxes.js';
import { readFixture } from '../test/support/fixtures.js';
import { ManifestRenderer } from '../src/manifest/renderer.js';
import { MemoryStore } from '../src/store/memory/index.js';
import type { ManifestStore, StoredStreamSettings } from '../src/store/ports.js';
import { type Scenario, StoreFeed, describeRenditions, runScenario } from '../test/support/scenario.js';
import { summarize, timeLoop } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

// 1 MB chunk: a real init segment, then a moof describing 30 samples and a 1 MiB mdat, fed from a pipe in 64 KiB reads.
const init = readFixture('h264.mp4').subarray(0, 796);
const small = chunk({ decodeTime: 0, durations: Array.from({ length: 30 }, () => 512) });
const moofLen = new DataView(small.buffer, small.byteOffset).getUint32(0);
const bigChunk = bytes(small.subarray(0, moofLen), box('mdat', new Uint8Array(1024 * 1024)));

const PIPE_READ = 64 * 1024;
const parseSamples = timeLoop(() => {
  const r = new CmafStreamReader();
  r.push(init);
  let n = 0;
  for (let p = 0; p < bigChunk.length; p += PIPE_READ)
    n += r.push(bigChunk.subarray(p, p + PIPE_READ)).length;
  if (n !== 1) throw new Error('expected one chunk');
}, SECONDS * 1000);

function scenario(windowMs: number, seconds: number, partMs: number): Scenario {
  const count = Math.round((seconds * 1000) / partMs) + 3;
  const video = (name: string, codec: string, width: number, height: number, bytes: number) => ({
    name,
    kind: 'video' as const,
    codec,
    width,
    height,
    frameRate: 30,
    timescale: 90000,
    chunks: { count, durationTicks: (90000 * partMs) / 1000, syncEvery: 2000 / partMs, bytes },
  });
  return {
    description: 'bench',
    wallClockStartMs: 1_763_755_200_000,
    segmentTargetMs: 2000,
    partTargetMs: partMs,
    windowMs,
    dvrWindowMs: windowMs,
    renditions: [
      video('720p', 'avc1.64001f', 1280, 720, 60000),
      video('480p', 'avc1.64001e', 854, 480, 30000),
      {
        name: 'audio',
        kind: 'audio',
        codec: 'mp4a.40.2',
        sampleRate: 48000,
        channelCount: 2,
        timescale: 48000,
        chunks: { count, durationTicks: (48000 * partMs) / 1000, bytes: 3200 },
      },
    ],
  };
}

const live = scenario(60_000, 90, 200);
const liveSnaps = runScenario(live);
const liveSnap = liveSnaps.get('720p')!;
const reports = [
  { uri: '../480p/index.m3u8', lastMsn: 1, lastPart: 1 },
  { uri: '../audio/index.m3u8', lastMsn: 1, lastPart: 1 },
];
let liveBytes = 0;
const liveSamples = timeLoop(() => {
  liveBytes = marshalPlaylist(
    buildMediaPlaylist(liveSnap, { windowTicks: 60 * 90000, lowLatency: true, renditionReports: reports }),
  ).length;
}, SECONDS * 1000);

const dvr = scenario(7_200_000, 7200, 1000);
dvr.renditions = dvr.renditions.slice(0, 1);
const dvrSnap = runScenario(dvr).get('720p')!;
let dvrBytes = 0;
const dvrSamples = timeLoop(() => {
  dvrBytes = marshalPlaylist(
    buildMediaPlaylist(dvrSnap, { windowTicks: 7200 * 90000, lowLatency: true }),
  ).length;
}, SECONDS * 1000);

const dashInput = describeRenditions(live).map((r) => ({
  ...r,
  bandwidth: measureBitrate(liveSnaps.get(r.name)!)!.peak,
  snapshot: liveSnaps.get(r.name)!,
}));
let mpdBytes = 0;
const mpdSamples = timeLoop(() => {
  mpdBytes = renderMpd(
    buildMpd(dashInput, {
      publishTimeMs: 1_763_755_300_000,
      windowMs: 60_000,
      lowLatency: true,
      utcTimingUrl: '/time',
    }),
  ).length;
}, SECONDS * 1000);

/**
 * The manifest worker per part: a live ladder of N video renditions (2 s segments, 200 ms parts, 60 s window,
 * DVR_SEC of DVR, filled beforehand); each step publishes one part in every rendition (the tenth completes the
 * segment), then one render, as coalesced jobs do. Time of the render (store reads and writes included, memory
 * adapter) and bytes stored by it; the renders that completed a segment (multivariant, MPDs, DVR playlists
 * re-rendered) are also reported apart. For contrast, a renderer without a memo renders everything.
 */
const DVR_SEC = Number(process.env.BENCH_DVR_SEC ?? 7200);
const PARTS_MEASURED = Number(process.env.BENCH_PARTS ?? 300);
async function renderPerPart(n: number) {
  const stream = 'bench';
  const partsPerSegment = 10;
  const settings: StoredStreamSettings = {
    segmentSec: 2,
    partSec: 0.2,
    windowSec: 60,
    dvrWindowSec: DVR_SEC,
  };
  const t0 = 1_763_755_200_000;
  const store = new MemoryStore({ now: () => t0 });
  await store.streams.mark(stream, settings, 'live', t0);
  let bytes = 0;
  const manifests: ManifestStore = {
    read: (s, name) => store.manifests.read(s, name),
    store: (s, writes, ttl) => {
      for (const w of writes) bytes += Buffer.byteLength(w.body);
      return store.manifests.store(s, writes, ttl);
    },
  };
  const feeds = Array.from({ length: n }, (_, i) => {
    const r = {
      name: `r${i}`,
      kind: 'video' as const,
      codec: 'avc1.64001f',
      timescale: 90000,
      width: 1920 - i * 100,
      height: 1080 - i * 60,
      frameRate: 30,
      nominalBitrate: 6_000_000 - i * 500_000,
      segmentTargetTicks: 180000,
      partTargetTicks: 18000,
      order: i,
    };
    return new StoreFeed(store.media, stream, r, { settings, wallClockStartMs: t0, partsPerSegment });
  });
  for (const f of feeds) await f.init();
  const prefill = Math.ceil(DVR_SEC / settings.segmentSec);
  for (let msn = 0; msn < prefill; msn++) for (const f of feeds) await f.segment(msn, false);
  const opts = { utcTimingUrl: '/time', targetLatencyMs: 1500, manifestTtlSec: 3600 };
  const renderer = new ManifestRenderer({ ...store, manifests }, opts);
  const nowAt = (part: number): number => t0 + part * 200 + 20;
  await renderer.render(stream, nowAt(prefill * partsPerSegment));
  const all: number[] = [];
  const partOnly: number[] = [];
  const segmentDone: number[] = [];
  const bytesPerPart: number[] = [];
  for (let k = 0; k < PARTS_MEASURED; k++) {
    const part = prefill * partsPerSegment + k;
    const msn = Math.floor(part / partsPerSegment);
    const completes = part % partsPerSegment === partsPerSegment - 1;
    for (const f of feeds) await (completes ? f.segment(msn) : f.part(msn));
    bytes = 0;
    const t = performance.now();
    await renderer.render(stream, nowAt(part + 1));
    const ms = performance.now() - t;
    all.push(ms);
    (completes ? segmentDone : partOnly).push(ms);
    bytesPerPart.push(bytes);
  }
  const full: number[] = [];
  let fullBytes = 0;
  for (let k = 0; k < 10; k++) {
    bytes = 0;
    const t = performance.now();
    await new ManifestRenderer({ ...store, manifests }, opts).render(
      stream,
      nowAt(prefill * 10 + PARTS_MEASURED),
    );
    full.push(performance.now() - t);
    fullBytes = bytes;
  }
  return {
    renditions: n,
    dvrSegments: prefill,
    parts: PARTS_MEASURED,
    ms: summarize(all),
    partOnlyMs: summarize(partOnly),
    segmentCompletingMs: summarize(segmentDone),
    bytesStoredPerPart: summarize(bytesPerPart),
    withoutMemo: { ms: summarize(full), bytesStored: fullBytes },
  };
}
const perPart3 = await renderPerPart(3);
const perPart10 = await renderPerPart(10);

const perSec = (samples: number[]): number =>
  Math.round(samples.length / (samples.reduce((a, b) => a + b, 0) / 1000));
console.log(
  JSON.stringify(
    {
      bench: 'core',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: { secondsPerCase: SECONDS, pipeReadBytes: PIPE_READ },
      parse1MBChunk: {
        chunkBytes: bigChunk.length,
        chunksPerSec: perSec(parseSamples),
        mbPerSec: Math.round((perSec(parseSamples) * bigChunk.length) / 1e6),
        ms: summarize(parseSamples),
      },
      renderLiveLLHls: {
        window: '60 s',
        parts: '200 ms',
        segments: liveSnap.segments.length,
        bytes: liveBytes,
        rendersPerSec: perSec(liveSamples),
        ms: summarize(liveSamples),
      },
      renderDvrLLHls: {
        window: '2 h',
        segments: dvrSnap.segments.length,
        bytes: dvrBytes,
        rendersPerSec: perSec(dvrSamples),
        ms: summarize(dvrSamples),
      },
      manifestRenderPerPart: {
        setup: `2 s segments, 200 ms parts, 60 s window, ${DVR_SEC} s DVR; memory store; skip untouched files`,
        renditions3: perPart3,
        renditions10: perPart10,
      },
      renderMpdLL: {
        window: '60 s',
        representations: dashInput.length,
        bytes: mpdBytes,
        rendersPerSec: perSec(mpdSamples),
        ms: summarize(mpdSamples),
      },
    },
    null,
    2,
  ),
);
