/**
 * The period anchor behind PROGRAM-DATE-TIME and the MPD's availabilityStartTime, when the source only reaches
 * its steady-state delay seconds after it connected (measured in bench:latency: the stamped source's input clock
 * kept falling for 5.4 s, and an anchor fixed when the first segment closed sat 250-810 ms after capture, which
 * dash.js then counted as latency it had not got). The timeline keeps refining a young period's anchor; the
 * renderers place the whole period on its newest segment's anchor, so first segments published with the late
 * estimate do not hold the manifests back.
 */
import { describe, expect, it } from 'vitest';
import {
  ANCHOR_CALIBRATION_SEC,
  type SegmentEntry,
  Timeline,
  type TimelineEvent,
  buildMediaPlaylist,
  buildMpd,
} from '../../src/core/index.js';
import { wallClockSteps } from '../../src/core/timeline/anchor.js';

const TS = 90000;
const PART = TS / 5; // 200 ms chunks, a keyframe every 2 s
const base = 1_800_000_000_000;
const cfg = { timescale: TS, segmentTargetTicks: 2 * TS, partTargetTicks: PART, dvrWindowTicks: 120 * TS };

/**
 * Chunk k covers [200k, 200k+200) ms of media. Its last byte arrives `delay(k)` after that media end: 1,500 ms
 * for the first ten (the connect), falling to the steady 300 ms by chunk 27 (5.4 s) as the source catches up;
 * at chunk `late` (after the calibration window) one chunk arrives even earlier, which must not move the anchor.
 */
function run(delay: (k: number) => number, chunks: number) {
  const tl = new Timeline(cfg);
  const events: TimelineEvent[] = [];
  const anchors: number[] = [];
  for (let k = 0; k < chunks; k++) {
    const arrival = base + (k + 1) * 200 + delay(k);
    // What the packager passes: when the chunk's first sample was captured at best (its arrival minus its length).
    events.push(
      ...tl.push(
        {
          trackId: 1,
          sequenceNumber: k,
          baseMediaDecodeTime: k * PART,
          sampleCount: 6,
          durationTicks: PART,
          startsWithSync: k % 10 === 0,
          byteLength: 1000,
        },
        arrival - 200,
      ),
    );
    const snap = tl.snapshot();
    anchors.push((snap.open ?? snap.segments.at(-1)!).periodWallClockMs);
  }
  const published = events.flatMap((e) => (e.type === 'segment' ? [e.segment] : []));
  return { tl, anchors, published };
}

const catchUp = (k: number): number => (k < 10 ? 1500 : k < 27 ? 1500 - ((k - 9) * 1200) / 18 : 300);
const calibrationChunks = (ANCHOR_CALIBRATION_SEC * 1000) / 200;

describe('period anchor calibration', () => {
  it('follows a source that catches up after its first segments were published, then holds', () => {
    const late = calibrationChunks + 10;
    const { tl, anchors, published } = run((k) => (k === late ? 50 : catchUp(k)), calibrationChunks + 40);
    // The estimate for chunk k counted back to media time 0 is base + delay(k): the anchor is base + the least
    // delay seen within the window, 300 ms.
    const steady = base + 300;
    const newest = tl.snapshot().segments.at(-1)!;
    expect(newest.periodWallClockMs).toBe(steady);
    // The first segment was published with the connect's late estimate (the failure this guards against).
    expect(published[0]!.periodWallClockMs).toBeGreaterThan(steady + 500);
    // Only ever earlier; and the early chunk after the window did not move it (50 ms would have).
    for (let k = 1; k < anchors.length; k++) expect(anchors[k]).toBeLessThanOrEqual(anchors[k - 1]!);
    expect(anchors.at(-1)).toBe(steady);
    expect(new Set(anchors.slice(calibrationChunks)).size).toBe(1);
  });

  it('repeats PROGRAM-DATE-TIME where the stored records step earlier, and the MPD takes the newest anchor', () => {
    const { tl } = run(catchUp, 60);
    const snap = tl.snapshot();
    const segs: SegmentEntry[] = snap.segments;
    // The store holds the first segments with the estimate they were published with.
    expect(segs[0]!.wallClockMs).toBeGreaterThan(base + 300 + 500);
    const steady = base + 300;

    // Every segment's PDT as a client computes it (the last tag, plus the durations since) is its own record:
    // the one the wall-clock lookups search; the newest segments are on the steady anchor.
    const tags = buildMediaPlaylist(snap, { windowTicks: 120 * TS, lowLatency: false });
    let pdt = NaN;
    const seen: number[] = [];
    for (const t of tags) {
      if (t.tag === 'EXT-X-PROGRAM-DATE-TIME') pdt = t.unixMs;
      if (t.tag === 'EXTINF') {
        seen.push(Math.round(pdt));
        pdt += (t.duration.ticks * 1000) / t.duration.timescale;
      }
    }
    expect(seen).toEqual(segs.map((s) => Math.round(s.wallClockMs)));
    expect(seen.at(-1)).toBe(steady + (segs.at(-1)!.startTicks * 1000) / TS);
    expect(tags.filter((t) => t.tag === 'EXT-X-PROGRAM-DATE-TIME').length).toBeGreaterThan(1);

    const mpd = buildMpd(
      [
        {
          name: 'v',
          kind: 'video',
          codec: 'avc1.64001f',
          bandwidth: 1e6,
          width: 640,
          height: 360,
          snapshot: snap,
        },
      ],
      { publishTimeMs: base + 13_000, windowMs: 120_000, lowLatency: true, utcTimingUrl: '/time' },
    );
    expect(mpd.availabilityStartTimeMs).toBe(steady);
  });
});

describe('wallClockSteps: where a playlist repeats PROGRAM-DATE-TIME', () => {
  const prev = { wallClockMs: 1_000_000, durationTicks: TS };
  it('tags a step of one whole millisecond either way (a 1-2 ms step left untagged shifted catch-up ranges)', () => {
    expect(wallClockSteps(prev, { wallClockMs: 1_001_000 }, TS)).toBe(false);
    expect(wallClockSteps(prev, { wallClockMs: 1_000_999 }, TS)).toBe(true);
    expect(wallClockSteps(prev, { wallClockMs: 1_001_002 }, TS)).toBe(true);
  });
  it('does not tag the rounding of fractional-ms durations', () => {
    // 1,000.333 ms at 48 kHz: the next record, rounded to the ms, is 0.333 ms from the computed end.
    const audio = { wallClockMs: 1_000_000, durationTicks: 48_016 };
    expect(wallClockSteps(audio, { wallClockMs: 1_001_000 }, 48_000)).toBe(false);
    expect(wallClockSteps(audio, { wallClockMs: 1_001_001 }, 48_000)).toBe(false);
  });
  it('never before the first segment', () => {
    expect(wallClockSteps(undefined, { wallClockMs: 5 }, TS)).toBe(false);
  });
});
