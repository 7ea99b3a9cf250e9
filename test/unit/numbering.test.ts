import { describe, expect, it } from 'vitest';
import { NUMBERING_EPOCH_MS, numberingFloor, resumeAbove, versionFloor } from '../../src/core/index.js';

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
    expect(lost.lastDiscontinuitySeq).toBeGreaterThan(first.lastDiscontinuitySeq + 100);
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
