/**
 * The latency tools against a live origin, as a user runs them against theirs: the stamped source publishes over
 * RTMP, the probe follows LL-HLS, LL-DASH and DASH URLs, and dash.js plays the low-latency MPD in Chromium.
 * Nothing here is timed: the assertions are about what was measured, not how fast.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { meter } from '../../tools/latency/browser-meter.js';
import { probe } from '../../tools/latency/probe.js';
import { StampedSource } from '../../tools/source/stamped-source.js';
import { createMetrics } from '../../src/metrics.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, sleep, testConfig, waitFor } from '../support/harness.js';
import { get } from '../support/player.js';

let node: NodeHandle;
let source: StampedSource;
let base: string;

beforeAll(async () => {
  // The default ladder's lowest rung (what the probe decodes): 360p at 700 kbit/s. The test ladder's 240p at
  // 250 kbit/s ultrafast blurs the stamp of a stream's first keyframes beyond reading (rejected, not misread).
  const config = testConfig({
    defaults: {
      segmentSec: 1,
      partSec: 0.25,
      windowSec: 6,
      dvrWindowSec: 30,
      ladder: [{ name: '360p', height: 360, videoBitrateK: 700, preset: 'superfast' }],
    },
  });
  const { log } = captureLogger();
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  source = new StampedSource({
    url: `rtmp://127.0.0.1:${node.rtmpPort}/live/lat`,
    width: 640,
    height: 360,
    bitrateK: 1200,
    durationSec: 120,
  });
  source.start();
  base = `http://127.0.0.1:${node.httpPort}/live/lat`;
  await waitFor(async () => (await get(`${base}/master.m3u8`)).status === 200, 30_000, 'stream live');
  // Join a running stream, as the bench does: in its first second the first playlists may have no segment yet
  // and the first keyframes come out of the encoders' rate control start.
  await sleep(4000);
});

afterAll(async () => {
  await source?.stop();
  await node?.stop();
});

/** Stamps come from this machine's clock: a misread code would give an absurd value, not a plausible one. */
const plausible = (ms: number): boolean => ms > 0 && ms < 10_000;

it('the probe follows LL-HLS through preload hints: every part sampled, no gaps, every stamp read', async () => {
  const r = await probe(`${base}/master.m3u8`, 8, 3);
  expect(r.mode).toBe('ll-hls');
  expect(r.errors).toEqual([]);
  expect(r.decodeFailures).toBe(0);
  expect(r.gaps).toBe(0);
  // 250 ms parts for 8 s: about 32; each part is a sample, not only the first of each segment.
  expect(r.samples.length).toBeGreaterThanOrEqual(16);
  const partIndices = new Set(r.samples.map((s) => /part-\d+\.(\d+)\.m4s/.exec(s.object)?.[1]));
  expect(partIndices.size).toBeGreaterThanOrEqual(3);
  for (const s of r.samples) expect(plausible(s.latencyMs), `${s.object}: ${s.latencyMs} ms`).toBe(true);
});

it('the probe reads LL-DASH segments chunk by chunk while they are written, and classic DASH whole', async () => {
  const [ll, classic] = await Promise.all([
    probe(`${base}/manifest-ll.mpd`, 8, 3),
    probe(`${base}/manifest.mpd`, 8, 3),
  ]);
  expect(ll.mode).toBe('ll-dash');
  expect(classic.mode).toBe('dash');
  for (const r of [ll, classic]) {
    expect(r.errors).toEqual([]);
    expect(r.decodeFailures).toBe(0);
    expect(r.gaps).toBe(0);
    for (const s of r.samples) expect(plausible(s.latencyMs), `${s.object}: ${s.latencyMs} ms`).toBe(true);
  }
  // Chunks of the in-progress segment: several samples per (1 s) segment; classic: one per segment.
  expect(ll.samples.length).toBeGreaterThanOrEqual(12);
  expect(new Set(ll.samples.map((s) => s.object.split('#')[0])).size).toBeLessThan(ll.samples.length);
  expect(classic.samples.length).toBeGreaterThanOrEqual(3);
  // A chunk is downloadable before the segment it belongs to is complete.
  const median = (l: number[]): number => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!;
  expect(median(ll.samples.map((s) => s.latencyMs))).toBeLessThan(
    median(classic.samples.map((s) => s.latencyMs)),
  );
});

it('dash.js plays the low-latency MPD in Chromium and the meter reads the frame on screen', async () => {
  const r = await meter({
    url: `${base}/manifest-ll.mpd`,
    player: 'dash',
    lowLatency: true,
    seconds: 8,
    warmupSec: 3,
  });
  expect(r.errors.filter((e) => e.includes('never started'))).toEqual([]);
  expect(r.samples.length).toBeGreaterThanOrEqual(16); // four reads a second
  for (const s of r.samples) expect(plausible(s.latencyMs), `${s.latencyMs} ms`).toBe(true);
});
