/**
 * npm run bench:core — how cheap the packaging core is: parse throughput for a 1 MB CMAF chunk, and render
 * rates for a live LL-HLS media playlist, a 2-hour DVR playlist and the MPD. Prints JSON.
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
import { type Scenario, describeRenditions, runScenario } from '../test/support/scenario.js';
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
