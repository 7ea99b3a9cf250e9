import { describe, expect, it } from 'vitest';
import {
  NUMBERING_EPOCH_MS,
  numberingFloor,
  resumeAbove,
  type SegmentEntry,
  versionFloor,
} from '../../src/core/index.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { RenditionInfo } from '../../src/store/ports.js';

const fresh = { nextMsn: 0, lastDiscontinuitySeq: 0, initId: 0, resumed: false };

describe('numbering floor (counters that survive a store loss)', () => {
  it('counts half segment durations since the epoch', () => {
    expect(numberingFloor(NUMBERING_EPOCH_MS, 1)).toBe(0);
    expect(numberingFloor(NUMBERING_EPOCH_MS + 10_000, 1)).toBe(20);
    expect(numberingFloor(NUMBERING_EPOCH_MS + 10_000, 2)).toBe(10);
    expect(numberingFloor(NUMBERING_EPOCH_MS - 5_000, 1)).toBe(0);
  });

  it('a stream numbered from the floor stays below any later floor while its segments average over half the target', () => {
    const segmentSec = 1;
    const start = Date.UTC(2026, 10, 30, 3, 0, 0);
    const first = resumeAbove(fresh, start, segmentSec);
    // An hour of 1 s segments plus 100 short (0.1 s) ones at discontinuities, then the store is lost.
    const issued = first.nextMsn + 3600 + 100;
    const lost = resumeAbove(fresh, start + 3600_000 + 100 * 100, segmentSec);
    expect(lost.nextMsn).toBeGreaterThan(issued);
    expect(lost.initId).toBeGreaterThan(first.initId + 100);
    // The discontinuity sequence names no URL: it is not floored (hls.js refuses a huge one).
    expect(lost.lastDiscontinuitySeq).toBe(0);
    expect(lost.resumed).toBe(false);
  });

  it('stored counters are kept as they are (a reconnect continues without a gap)', () => {
    const stored = { nextMsn: 42, lastDiscontinuitySeq: 3, initId: 3, resumed: true };
    expect(resumeAbove(stored, Date.now(), 1)).toEqual(stored);
  });

  it('versions floor at milliseconds since the epoch', () => {
    expect(versionFloor(NUMBERING_EPOCH_MS + 1234)).toBe(1234);
  });
});

describe('a store that lost the stream tells its writer (memory adapter, as the Redis script)', () => {
  const info: RenditionInfo = {
    name: 'v',
    kind: 'video',
    codec: 'avc1.64001f',
    timescale: 90_000,
    nominalBitrate: 1_000_000,
    segmentTargetTicks: 90_000,
    partTargetTicks: 22_500,
    order: 0,
  };
  const segment = (msn: number): SegmentEntry => ({
    msn,
    discontinuitySeq: 0,
    discontinuity: false,
    initId: 0,
    startTicks: msn * 90_000,
    durationTicks: 90_000,
    independent: true,
    byteLength: 4,
    wallClockMs: 0,
    periodStartTicks: 0,
    periodWallClockMs: 0,
    parts: [],
  });
  const write = { segmentSec: 60, initSec: 60, keepSegments: 10, keepPartsSegments: 5 };
  const settings = { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 30 };

  it('publishSegment returns a negated version until settings, description and init are there; mark floors the version', async () => {
    const store = new MemoryStore();
    expect(await store.media.publishSegment('s', 'v', segment(0), Buffer.from('seg0'), write)).toBeLessThan(
      0,
    );
    const now = NUMBERING_EPOCH_MS + 5_000_000;
    await store.streams.mark('s', settings, 'live', now);
    expect((await store.streams.readState('s')).version).toBeGreaterThanOrEqual(versionFloor(now));
    expect(await store.media.publishSegment('s', 'v', segment(1), Buffer.from('seg1'), write)).toBeLessThan(
      0,
    );
    await store.media.publishInit('s', info, 0, Buffer.from('init'), 60);
    const v = await store.media.publishSegment('s', 'v', segment(2), Buffer.from('seg2'), write);
    expect(v).toBeGreaterThan(versionFloor(now));
    // Marked again while its settings are there: versions just go on.
    await store.streams.mark('s', settings, 'idle', now + 10);
    expect((await store.streams.readState('s')).version).toBe(v + 1);
  });
});
