/**
 * DvrMpdRenderer (issue #11, decision 014): the DVR MPD from kept per-chunk summaries equals the reference
 * (renderMpd(buildDvrMpd), which walks every segment), text and model, while a window slides one segment at a
 * time over a video and an audio rendition (audio segment durations vary, so its closed periods list one S per
 * run), across a discontinuity (a new period anchored later), a forced cut that takes the live period off the
 * number grid until it leaves the window, a chain behind the clock, start-over and finished catch-up ranges.
 * A slide reuses the kept chunks: only the view's first and last chunks are summarized again.
 */
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import {
  DVR_CHUNK_SEGMENTS,
  type DvrMpdOptions,
  DvrMpdRenderer,
  type DvrSegment,
  type DvrTrack,
  type RenditionDescription,
  buildDvrMpd,
  renderMpd,
} from '../../src/core/index.js';

const T0 = Date.UTC(2026, 10, 30, 6, 0, 0, 0);
const N = 450;
const MSN0 = 1037; // not a chunk boundary: the view's chunks start mid-way
const DISC = 200;
/** Video segment DISC + CUT is cut short, the next one long: the one after is off the number grid. */
const CUT = 5;

const VIDEO: RenditionDescription = {
  name: '720p',
  kind: 'video',
  codec: 'avc1.64001f',
  timescale: 90_000,
  width: 1280,
  height: 720,
  frameRate: 30,
  nominalBitrate: 2_500_000,
  segmentTargetTicks: 180_000,
  partTargetTicks: 18_000,
  order: 0,
};
const AUDIO: RenditionDescription = {
  name: 'audio',
  kind: 'audio',
  codec: 'mp4a.40.2',
  timescale: 48_000,
  sampleRate: 48_000,
  channelCount: 2,
  language: 'en',
  nominalBitrate: 128_000,
  segmentTargetTicks: 96_000,
  partTargetTicks: 9_600,
  order: 100,
};

/** Segments of one rendition: durations from dur(i), a discontinuity at DISC anchored 4,321 ms later. */
function run(r: RenditionDescription, dur: (i: number) => number, n = N): DvrSegment[] {
  const out: DvrSegment[] = [];
  let start = 0;
  let periodStartTicks = 0;
  let periodWallClockMs = T0;
  for (let i = 0; i < n; i++) {
    if (i === DISC) {
      periodStartTicks = start;
      periodWallClockMs = T0 + Math.floor((start * 1000) / r.timescale) + 4321;
    }
    const after = i >= DISC;
    out.push({
      msn: MSN0 + i,
      discontinuitySeq: after ? 8 : 7,
      discontinuity: i === DISC,
      initId: after ? 2 : 1,
      startTicks: start,
      durationTicks: dur(i),
      independent: true,
      byteLength: 100_000 + i,
      wallClockMs: periodWallClockMs + Math.floor(((start - periodStartTicks) * 1000) / r.timescale),
      periodStartTicks,
      periodWallClockMs,
    });
    start += dur(i);
  }
  return out;
}

const video = run(VIDEO, (i) => (i === DISC + CUT ? 120_000 : i === DISC + CUT + 1 ? 240_000 : 180_000));
// AAC: 2 s is 93.75 frames of 1024 samples; segments of 94, 94, 94 and 93 frames keep within a part of the grid.
const audio = run(AUDIO, (i) => (i % 4 === 3 ? 93 : 94) * 1024);

function tracks(from: number, to: number): DvrTrack[] {
  return [
    { description: VIDEO, partTargetTicks: 18_000, bandwidth: 2_612_345, segments: video.slice(from, to) },
    { description: AUDIO, partTargetTicks: 9_600, bandwidth: 131_072, segments: audio.slice(from, to) },
  ];
}

function options(to: number, o: Partial<DvrMpdOptions> = {}): DvrMpdOptions {
  return {
    publishTimeMs: video[to - 1]!.wallClockMs + 2500,
    windowMs: 480_000,
    utcTimingUrl: '/time',
    ended: false,
    ...o,
  };
}

/** The renderer's text equals the reference's; with model, the model too (one more build). */
function same(r: DvrMpdRenderer, t: DvrTrack[], o: DvrMpdOptions, model = false): string {
  const want = buildDvrMpd(t, o);
  if (model) expect(r.build(t, o)).toEqual(want);
  const text = r.render(t, o);
  expect(text).toBe(renderMpd(want));
  return text;
}

describe('DvrMpdRenderer equals the reference DVR MPD', () => {
  it('a window of 240 segments sliding over 450, one segment at a time, reusing the kept chunks', () => {
    const r = new DvrMpdRenderer();
    const W = 240;
    const texts: string[] = [];
    for (let k = 0; k + W <= N; k++) texts.push(same(r, tracks(k, k + W), options(k + W), k % 20 === 0));
    // After the first build, each summarizes at most the first and last chunk of each of the 2 renditions
    // again; the chunks between are reused.
    const builds = N - W + 1 + Math.ceil((N - W + 1) / 20);
    const first = 2 * (W / DVR_CHUNK_SEGMENTS + 2);
    expect(r.rendered).toBeLessThanOrEqual(first + (builds - 1) * 2 * 2);
    expect(r.reused).toBeGreaterThanOrEqual((builds - 1) * 2 * (W / DVR_CHUNK_SEGMENTS - 2));
    // The forms the window went through: two periods (closed: explicit timelines; audio one S per run), then
    // the forced cut in the live period (timelines), then past it (number grid, no SegmentTimeline).
    const oldest = texts[0]!;
    const last = texts[texts.length - 1]!;
    expect((oldest.match(/<Period /g) ?? []).length).toBe(2);
    expect(oldest).toContain('<S t="0" d="180000" r="199"/>');
    expect((last.match(/<Period /g) ?? []).length).toBe(1);
    expect(last).not.toContain('<SegmentTimeline>');
    expect(last).toContain('duration="180000"');
    const whileCut = texts[100]!; // segments 100..339: the cut is in the live period
    expect((whileCut.match(/<Period /g) ?? []).length).toBe(2);
    expect(whileCut).toContain('d="240000"');
  });

  it('a slide merges a handful of pieces whatever the window: the whole chunks between its ends are joined once', () => {
    const long = run(
      VIDEO,
      (i) => (i === DISC + CUT ? 120_000 : i === DISC + CUT + 1 ? 240_000 : 180_000),
      3250,
    );
    const r = new DvrMpdRenderer();
    const W = 3000; // 30 chunks
    const view = (k: number): DvrTrack[] => [
      { description: VIDEO, partTargetTicks: 18_000, bandwidth: 2_612_345, segments: long.slice(k, k + W) },
    ];
    const at = (k: number): DvrMpdOptions => ({
      publishTimeMs: long[k + W - 1]!.wallClockMs + 2500,
      windowMs: W * 2000,
      utcTimingUrl: '/time',
      ended: false,
    });
    r.build(view(0), at(0));
    const perBuild: number[] = [];
    for (let k = 1; k + W <= long.length; k++) {
      const m0 = r.merged;
      const t = view(k);
      const got = r.build(t, at(k));
      perBuild.push(r.merged - m0);
      if (k % 10 === 0) expect(got).toEqual(buildDvrMpd(t, at(k)));
    }
    // Partial first chunk (up to 2 pieces across the discontinuity), the joined middle (one per period), the
    // partial last chunk: never the 30 chunks one by one.
    expect(Math.max(...perBuild)).toBeLessThanOrEqual(6);
  });

  it('the view does not start on a chunk boundary, and a kept chunk is reused by another view', () => {
    const r = new DvrMpdRenderer();
    same(r, tracks(63, 400), options(400));
    const before = r.reused;
    same(r, tracks(120, 410), options(410));
    expect(r.reused).toBeGreaterThan(before);
  });

  it('forgetBefore drops the chunks that left the window, and the next render is still the reference', () => {
    const r = new DvrMpdRenderer();
    same(r, tracks(0, 400), options(400));
    const kept = r.size;
    r.forgetBefore(VIDEO.name, video[250]!.msn);
    r.forgetBefore(AUDIO.name, audio[250]!.msn);
    expect(r.size).toBeLessThan(kept);
    expect(r.size).toBeGreaterThan(0);
    same(r, tracks(250, 450), options(450));
  });

  it('a chain behind the clock lists timelines; start-over and finished catch-up ranges', () => {
    const r = new DvrMpdRenderer();
    same(r, tracks(0, 300), options(300, { publishTimeMs: video[299]!.wallClockMs + 60_000 }), true);
    same(r, tracks(150, 450), options(450, { windowMs: 700_000 }), true);
    const text = same(r, tracks(150, 260), options(260, { ended: true, windowMs: 220_000 }), true);
    expect(text).toContain('type="static"');
  });

  it('parses back (mpd-parser): every segment of the window listed, numbered from its first msn', () => {
    const r = new DvrMpdRenderer();
    const t = tracks(0, 190); // one period, before the discontinuity
    const o = options(190, { ended: true });
    const m = parseMpd(r.render(t, o), { manifestUri: 'http://o.test/live/s/dvr.mpd' });
    const v = (m.playlists as Array<{ segments: Array<{ uri: string; duration: number }> }>)[0]!;
    expect(v.segments).toHaveLength(190);
    expect(v.segments.map((s) => s.uri)).toEqual(
      Array.from({ length: 190 }, (_, i) => `720p/seg-${MSN0 + i}.m4s`),
    );
    expect(v.segments.every((s) => s.duration === 2)).toBe(true);
  });
});
