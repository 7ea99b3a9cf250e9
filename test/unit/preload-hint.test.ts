import { describe, expect, it } from 'vitest';
import {
  type SegmentEntry,
  type TimelineSnapshot,
  buildMediaPlaylist,
  marshalPlaylist,
} from '../../src/core/index.js';

const seg = (msn: number, parts: number, extra: Partial<SegmentEntry> = {}): SegmentEntry => ({
  msn,
  discontinuitySeq: 0,
  discontinuity: false,
  initId: 0,
  startTicks: msn * 1000,
  durationTicks: parts * 100,
  independent: true,
  byteLength: parts * 10,
  wallClockMs: 1_700_000_000_000 + msn * 1000,
  periodStartTicks: 0,
  periodWallClockMs: 1_700_000_000_000,
  parts: Array.from({ length: parts }, (_, i) => ({
    msn,
    index: i,
    startTicks: msn * 1000 + i * 100,
    durationTicks: 100,
    independent: i === 0,
    byteLength: 10,
  })),
  ...extra,
});

const snap = (open: SegmentEntry): TimelineSnapshot => ({
  timescale: 1000,
  segmentTargetTicks: 1000,
  partTargetTicks: 100,
  segments: [seg(0, 10), seg(1, 10), seg(2, 10)],
  open,
  ended: false,
});

describe('EXT-X-PRELOAD-HINT', () => {
  it('names the next part of the open segment', () => {
    expect(
      marshalPlaylist(buildMediaPlaylist(snap(seg(3, 4)), { windowTicks: 6000, lowLatency: true })),
    ).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-3.4.m4s"');
  });

  it("names the next segment's first part when the open segment has published its last part", () => {
    const text = marshalPlaylist(
      buildMediaPlaylist(snap(seg(3, 10, { closing: true })), { windowTicks: 6000, lowLatency: true }),
    );
    expect(text).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-4.0.m4s"');
    expect(text).toContain('part-3.9.m4s');
  });
});
