/**
 * DVR playlists over archive records and the live timeline (issue #11): the chunked renderer equals the
 * reference rendering whatever the view, reuses full chunks, and what it lists reads back through m3u8-parser
 * and mpd-parser with exact sequence numbers, durations and program date-times across discontinuities.
 */
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import {
  type DvrSegment,
  DVR_CHUNK_SEGMENTS,
  DvrPlaylistRenderer,
  buildDvrMpd,
  buildDvrPlaylist,
  dvrRun,
  dvrView,
  marshalPlaylist,
  renderMpd,
  type RenditionDescription,
} from '../../src/core/index.js';

const TS = 90_000;
const T0 = Date.UTC(2026, 10, 30, 6, 0, 0, 0);

/**
 * A timeline of `n` segments from msn `from`: 2 s each, except every 7th 1.96 s (a forced cut); a discontinuity
 * (new init, new period anchored 5.123 s later than the media time implies) at each msn in `discs`.
 */
function timeline(from: number, n: number, discs: number[] = []): DvrSegment[] {
  const out: DvrSegment[] = [];
  let disc = 0;
  let initId = 0;
  let periodStartTicks = 0;
  let periodWallClockMs = T0;
  let ticks = 0;
  for (let msn = from; msn < from + n; msn++) {
    const isDisc = discs.includes(msn);
    if (isDisc) {
      disc++;
      initId++;
      const wall = periodWallClockMs + Math.floor(((ticks - periodStartTicks) * 1000) / TS) + 5123;
      periodStartTicks = ticks;
      periodWallClockMs = wall;
    }
    const durationTicks = msn % 7 === 0 ? 176_400 : 180_000;
    out.push({
      msn,
      discontinuitySeq: disc,
      discontinuity: isDisc,
      initId,
      startTicks: ticks,
      durationTicks,
      independent: true,
      byteLength: 250_000 + msn,
      wallClockMs: periodWallClockMs + Math.floor(((ticks - periodStartTicks) * 1000) / TS),
      periodStartTicks,
      periodWallClockMs,
    });
    ticks += durationTicks;
  }
  return out;
}

function parse(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as {
    mediaSequence: number;
    discontinuitySequence: number;
    endList?: boolean;
    playlistType?: string;
    targetDuration: number;
    segments: Array<{
      uri: string;
      duration: number;
      programDateTime?: number;
      discontinuity?: boolean;
      map?: { uri: string };
    }>;
  };
}

describe('dvrRun', () => {
  it('merges archive and live by msn without duplicates, live entries winning', () => {
    const all = timeline(1000, 50);
    const archived = all.slice(0, 40);
    const live = all.slice(30).map((s) => ({ ...s, byteLength: s.byteLength + 1 }));
    const run = dvrRun(archived, live);
    expect(run.map((s) => s.msn)).toEqual(all.map((s) => s.msn));
    expect(run[35]!.byteLength).toBe(all[35]!.byteLength + 1);
    expect(run[5]!.byteLength).toBe(all[5]!.byteLength);
  });

  it('keeps the consecutive run ending at the newest segment when a record is missing', () => {
    const all = timeline(0, 30);
    const archived = all.filter((s) => s.msn !== 12);
    expect(dvrRun(archived, []).map((s) => s.msn)).toEqual(all.slice(13).map((s) => s.msn));
    expect(dvrRun([], [])).toEqual([]);
  });
});

describe('DvrPlaylistRenderer', () => {
  const all = timeline(4_950, 1_000, [5_120, 5_300, 5_301]);

  it('renders exactly the reference playlist for sliding windows, ranges and ends, reusing full chunks', () => {
    const r = new DvrPlaylistRenderer();
    const views: Array<{ segs: DvrSegment[]; ended: boolean; type?: 'EVENT' | 'VOD' }> = [];
    for (let end = 10; end <= all.length; end += 37)
      views.push({ segs: all.slice(Math.max(0, end - 600), end), ended: false });
    views.push({ segs: all.slice(171, 702), ended: true, type: 'VOD' });
    views.push({ segs: all.slice(170, 171), ended: false, type: 'EVENT' });
    views.push({ segs: [], ended: false });
    for (const v of views) {
      const p = {
        timescale: TS,
        segmentTargetTicks: 180_000,
        segments: v.segs,
        ended: v.ended,
        playlistType: v.type,
      };
      expect(r.render(p)).toBe(marshalPlaylist(buildDvrPlaylist(p)));
    }
    expect(r.reused).toBeGreaterThan(r.rendered);
    expect(r.size).toBeGreaterThan(0);
  });

  it('a new segment re-renders at most the first and the last chunk', () => {
    const r = new DvrPlaylistRenderer();
    const big = timeline(0, 43_200);
    const render = (n: number) =>
      r.render({ timescale: TS, segmentTargetTicks: 180_000, segments: big.slice(0, n), ended: false });
    render(43_000);
    const before = r.rendered;
    render(43_001);
    expect(r.rendered - before).toBeLessThanOrEqual(2);
  });

  it('reads back with exact sequence numbers, durations and PDTs across discontinuities', () => {
    const segs = all.slice(100, 400); // msn 5050..5349, discontinuities at 5120, 5300, 5301
    const text = new DvrPlaylistRenderer().render({
      timescale: TS,
      segmentTargetTicks: 180_000,
      segments: segs,
      ended: true,
      playlistType: 'VOD',
    });
    const m = parse(text);
    expect(m.mediaSequence).toBe(5050);
    expect(m.discontinuitySequence).toBe(0);
    expect(m.endList).toBe(true);
    expect(m.playlistType).toBe('VOD');
    expect(m.targetDuration).toBe(2);
    expect(m.segments).toHaveLength(segs.length);
    m.segments.forEach((s, i) => {
      const e = segs[i]!;
      expect(s.uri).toBe(`seg-${e.msn}.m4s`);
      expect(s.duration).toBeCloseTo(e.durationTicks / TS, 5);
      expect(s.map?.uri).toBe(`init-${e.initId}.mp4`);
      expect(Boolean(s.discontinuity)).toBe(e.discontinuity);
    });
    // Every PDT written is the segment's own wall clock, to the millisecond.
    const pdtLines = text.split('\n').filter((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:'));
    const expected = segs.filter(
      (s, i) =>
        i === 0 ||
        s.discontinuity ||
        Math.floor(s.msn / DVR_CHUNK_SEGMENTS) !== Math.floor(segs[i - 1]!.msn / DVR_CHUNK_SEGMENTS),
    );
    expect(pdtLines.map((l) => Date.parse(l.slice(25)))).toEqual(expected.map((s) => s.wallClockMs));
    for (const e of expected) expect(m.segments[segs.indexOf(e)]!.programDateTime).toBe(e.wallClockMs);
    expect(text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(3);
  });

  it('cuts views by time: start-over from a PDT, catch-up between two', () => {
    const from = all[200]!.wallClockMs + 1; // mid-segment: the view starts at the next one
    const to = all[260]!.wallClockMs;
    const v = dvrView(all, { windowMs: 0, timescale: TS, fromMs: from, toMs: to });
    expect(v[0]!.msn).toBe(all[201]!.msn);
    expect(v[v.length - 1]!.msn).toBe(all[259]!.msn);
    const last = all[all.length - 1]!;
    const endMs = last.wallClockMs + Math.floor((last.durationTicks * 1000) / TS);
    const inWindow = all.filter((s) => s.wallClockMs >= endMs - 120_000);
    expect(inWindow.length).toBeGreaterThan(55);
    expect(dvrView(all, { windowMs: 120_000, timescale: TS })).toEqual(inWindow);
  });
});

describe('buildDvrMpd', () => {
  const video: RenditionDescription = {
    name: '360p',
    kind: 'video',
    codec: 'avc1.64001e',
    timescale: TS,
    width: 640,
    height: 360,
    frameRate: 30,
    nominalBitrate: 700_000,
    segmentTargetTicks: 180_000,
    partTargetTicks: 18_000,
    order: 0,
  };
  const segs = timeline(0, 300, [120]).map((s) => ({
    ...s,
    durationTicks: 180_000,
    startTicks: s.msn * 180_000,
  }));
  // keep the grid exact in the live period: rebuild start/wall clock from a 2 s grid
  const grid = segs.map((s) => ({
    ...s,
    wallClockMs:
      s.periodWallClockMs +
      ((s.startTicks - (s.discontinuity || s.msn >= 120 ? 120 * 180_000 : 0)) * 1000) / TS,
    periodStartTicks: s.msn >= 120 ? 120 * 180_000 : 0,
  }));

  it('a static catch-up MPD lists every segment of the range with its exact time, across periods', () => {
    const mpd = renderMpd(
      buildDvrMpd([{ description: video, partTargetTicks: 18_000, bandwidth: 800_000, segments: grid }], {
        publishTimeMs: T0 + 3_600_000,
        windowMs: 600_000,
        utcTimingUrl: '/time',
        ended: true,
      }),
    );
    expect(mpd).toContain('type="static"');
    expect(mpd).toContain('timeShiftBufferDepth="PT600.000S"');
    const m = parseMpd(mpd, { manifestUri: 'http://o/live/cam/dvr.mpd' }) as {
      playlists: Array<{ segments: Array<{ number: number; duration: number; uri: string }> }>;
    };
    const listed = m.playlists.flatMap((p) => p.segments);
    expect(listed.map((s) => s.number)).toEqual(grid.map((s) => s.msn));
    for (const s of listed) expect(s.duration).toBeCloseTo(2, 6);
    expect(listed.map((s) => s.uri)).toEqual(grid.map((s) => `360p/seg-${s.msn}.m4s`));
  });

  it('the live DVR MPD is dynamic with timeShiftBufferDepth = the window', () => {
    const last = grid[grid.length - 1]!;
    const mpd = renderMpd(
      buildDvrMpd([{ description: video, partTargetTicks: 18_000, bandwidth: 800_000, segments: grid }], {
        publishTimeMs: last.wallClockMs + 2000,
        windowMs: 86_400_000,
        utcTimingUrl: '/time',
        ended: false,
      }),
    );
    expect(mpd).toContain('type="dynamic"');
    expect(mpd).toContain('timeShiftBufferDepth="PT86400.000S"');
    expect(mpd.match(/<Period /g)).toHaveLength(2);
  });
});
