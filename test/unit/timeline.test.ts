import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChunkInfo,
  type SegmentEntry,
  Timeline,
  type TimelineEvent,
  roundSeconds,
} from '../../src/core/index.js';

const TS = 90000;
const mk = (start: number, dur: number, sync: boolean, bytes = 1000): ChunkInfo => ({
  trackId: 1,
  sequenceNumber: 0,
  baseMediaDecodeTime: start,
  sampleCount: 1,
  durationTicks: dur,
  startsWithSync: sync,
  byteLength: bytes,
});

function feed(
  tl: Timeline,
  chunks: Array<{ dur: number; sync: boolean }>,
  start = 0,
): { events: TimelineEvent[]; end: number } {
  const events: TimelineEvent[] = [];
  let t = start;
  for (const c of chunks) {
    events.push(...tl.push(mk(t, c.dur, c.sync), 1_700_000_000_000 + Math.round((t * 1000) / TS)));
    t += c.dur;
  }
  return { events, end: t };
}

const segmentsOf = (events: TimelineEvent[]): SegmentEntry[] =>
  events.flatMap((e) => (e.type === 'segment' ? [e.segment] : []));

describe('Timeline', () => {
  const cfg = { timescale: TS, segmentTargetTicks: 2 * TS, partTargetTicks: TS / 5, dvrWindowTicks: 60 * TS };

  it('anchors the period on the steady-state arrival, not on a late first burst, and then holds it', () => {
    const tl = new Timeline(cfg);
    const base = 1_700_000_000_000;
    const part = TS / 5; // 200 ms
    // Chunk k covers [200k, 200k+200) ms of media; it arrives (last byte) at: a burst at 1,500 ms for the first
    // five, then steadily 300 ms after its media end (the pipeline delay); from the third segment on, 900 ms after
    // (a slower pipeline never moves the anchor later).
    const arrival = (k: number): number => base + (k < 5 ? 1500 : (k + 1) * 200 + (k < 20 ? 300 : 900));
    const events: TimelineEvent[] = [];
    const anchors: number[] = [];
    for (let k = 0; k < 40; k++) {
      // What the packager passes: arrival minus the chunk's duration (its start, had it arrived on time).
      events.push(...tl.push(mk(k * part, part, k % 10 === 0), arrival(k) - 200));
      anchors.push(tl.snapshot().open!.periodWallClockMs);
    }
    const segs = segmentsOf(events);
    // Steady state: media time t was captured at base + t + 300 ms - 200 ms (arrival of a chunk's end minus its length).
    expect(segs[0]!.periodWallClockMs).toBe(base + 300);
    expect(segs[0]!.wallClockMs).toBe(base + 300);
    expect(segs[1]!.wallClockMs).toBe(base + 300 + 2000);
    expect(segs.at(-1)!.wallClockMs).toBe(base + 300 + (segs.length - 1) * 2000);
    // The anchor only moved earlier, and not at all once the steady state was reached.
    for (let k = 1; k < anchors.length; k++) expect(anchors[k]).toBeLessThanOrEqual(anchors[k - 1]!);
    expect(new Set(anchors.slice(10)).size).toBe(1);
  });

  it('cuts 200 ms parts and 2 s segments at keyframes, numbering from 0', () => {
    const tl = new Timeline(cfg);
    const { events } = feed(
      tl,
      Array.from({ length: 50 }, (_, i) => ({ dur: TS / 5, sync: i % 10 === 0 })),
    );
    const segs = segmentsOf(events);
    expect(segs.map((s) => s.msn)).toEqual([0, 1, 2, 3]);
    expect(segs.every((s) => s.durationTicks === 2 * TS && s.parts.length === 10 && s.independent)).toBe(
      true,
    );
    expect(segs[1]!.parts.map((p) => p.independent)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    const snap = tl.snapshot();
    expect(snap.open?.msn).toBe(4);
    expect(snap.open?.parts).toHaveLength(10);
  });

  it('closes a segment at its boundary without waiting for the next chunk when keyframes are aligned', () => {
    const tl = new Timeline({ ...cfg, eagerSegmentClose: true });
    const { events } = feed(
      tl,
      Array.from({ length: 10 }, (_, i) => ({ dur: TS / 5, sync: i === 0 })),
    );
    expect(segmentsOf(events).map((s) => [s.msn, s.durationTicks])).toEqual([[0, 2 * TS]]);
    // The next chunk is not a keyframe: that segment is marked dependent, never mislabelled.
    feed(tl, [{ dur: TS / 5, sync: false }], 2 * TS);
    expect(tl.snapshot().open?.independent).toBe(false);
  });

  it('forces a cut before a segment could round above the target duration when keyframes are missing', () => {
    const tl = new Timeline(cfg);
    const { events } = feed(
      tl,
      Array.from({ length: 40 }, (_, i) => ({ dur: TS / 5, sync: i === 0 })),
    );
    const segs = segmentsOf(events);
    expect(segs.length).toBeGreaterThan(2);
    for (const s of segs) expect(roundSeconds(s.durationTicks, TS)).toBeLessThanOrEqual(2);
    expect(segs[1]!.independent).toBe(false);
  });

  it('continues sequence numbers across a discontinuity and starts a new period with a new init', () => {
    const tl = new Timeline(cfg);
    feed(
      tl,
      Array.from({ length: 15 }, (_, i) => ({ dur: TS / 5, sync: i % 10 === 0 })),
    );
    const ev = tl.discontinuity();
    expect(segmentsOf(ev).map((s) => [s.msn, s.durationTicks])).toEqual([[1, TS]]);
    feed(
      tl,
      Array.from({ length: 11 }, (_, i) => ({ dur: TS / 5, sync: i % 10 === 0 })),
      0,
    );
    const snap = tl.snapshot();
    const after = snap.segments[2]!;
    expect(after).toMatchObject({
      msn: 2,
      discontinuity: true,
      discontinuitySeq: 1,
      initId: 1,
      startTicks: 0,
    });
    expect(snap.open).toMatchObject({ msn: 3, discontinuity: false, discontinuitySeq: 1 });
  });

  it('treats a decode time jumping backwards as a discontinuity', () => {
    const tl = new Timeline(cfg);
    feed(
      tl,
      Array.from({ length: 12 }, (_, i) => ({ dur: TS / 5, sync: i % 10 === 0 })),
      50 * TS,
    );
    feed(tl, [{ dur: TS / 5, sync: true }], 0);
    expect(tl.snapshot().open).toMatchObject({ discontinuity: true, discontinuitySeq: 1, startTicks: 0 });
  });

  it('resumes numbering from the store: the first segment after a restart is a discontinuity', () => {
    const tl = new Timeline(cfg, { nextMsn: 1234, lastDiscontinuitySeq: 7, initId: 7, resumed: true });
    feed(tl, [{ dur: TS / 5, sync: true }]);
    expect(tl.snapshot().open).toMatchObject({
      msn: 1234,
      discontinuity: true,
      discontinuitySeq: 8,
      initId: 8,
    });
  });

  it('keeps a sliding DVR window and drops part lists of old segments', () => {
    const tl = new Timeline({ ...cfg, dvrWindowTicks: 10 * TS, partRetentionSegments: 2 });
    feed(
      tl,
      Array.from({ length: 200 }, (_, i) => ({ dur: TS / 5, sync: i % 10 === 0 })),
    );
    const snap = tl.snapshot();
    const total = snap.segments.reduce((n, s) => n + s.durationTicks, 0);
    expect(total).toBeGreaterThanOrEqual(10 * TS);
    expect(total).toBeLessThan(12 * TS);
    expect(snap.segments.map((s) => s.parts.length)).toEqual([0, 0, 0, 10, 10]);
  });

  it('stays exact over a 24-hour stream: no drift in decode times or wall clock', () => {
    const tl = new Timeline({ ...cfg, dvrWindowTicks: 30 * TS });
    const chunkTicks = 3003; // 29.97 fps frame at 90 kHz: not a round number of milliseconds
    const n = Math.ceil((24 * 3600 * TS) / chunkTicks);
    // Each chunk arrives on time (wall clock rounded to the millisecond, as Date.now() gives it).
    for (let i = 0; i < n; i++)
      tl.push(
        mk(i * chunkTicks, chunkTicks, i % 60 === 0),
        1_700_000_000_000 + Math.round((i * chunkTicks * 1000) / TS),
      );
    const last = tl.snapshot().segments.at(-1)!;
    expect(last.startTicks % (60 * chunkTicks)).toBe(0);
    expect(last.wallClockMs).toBe(1_700_000_000_000 + Math.round((last.startTicks * 1000) / TS));
  });

  it('rejects a zero-duration chunk and an impossible configuration with a typed error', () => {
    expect(() => new Timeline({ ...cfg, partTargetTicks: 3 * TS })).toThrow(/partTargetTicks/);
    expect(() => new Timeline(cfg).push(mk(0, 0, true), 0)).toThrow(/no duration/);
  });

  it('property: no segment exceeds the target, durations sum exactly, sequence numbers strictly increase', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dur: fc.integer({ min: 1, max: TS / 2 }), sync: fc.boolean() }), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 10 }),
        fc.boolean(),
        (chunks, targetSec, partTenths, eager) => {
          const partTargetTicks = Math.min((partTenths * TS) / 10, targetSec * TS);
          const tl = new Timeline({
            timescale: TS,
            segmentTargetTicks: targetSec * TS,
            partTargetTicks,
            dvrWindowTicks: 1e12,
            eagerSegmentClose: eager,
          });
          const { events } = feed(tl, chunks);
          events.push(...tl.end());
          const segs = segmentsOf(events);
          const input = chunks.reduce((n, c) => n + c.dur, 0);
          expect(segs.reduce((n, s) => n + s.durationTicks, 0)).toBe(input);
          segs.forEach((s, i) => {
            expect(roundSeconds(s.durationTicks, TS)).toBeLessThanOrEqual(targetSec);
            expect(s.durationTicks).toBeLessThan(tl.segmentCapTicks);
            if (i > 0) expect(s.msn).toBe(segs[i - 1]!.msn + 1);
            expect(s.parts.reduce((n, p) => n + p.durationTicks, 0)).toBe(s.durationTicks);
            expect(s.parts.map((p) => p.index)).toEqual(s.parts.map((_, j) => j));
            expect(s.parts[0]!.startTicks).toBe(s.startTicks);
            expect(s.independent).toBe(s.parts[0]!.independent);
          });
          // A part closes as soon as it reaches the part target: it overshoots by less than one chunk.
          const maxChunk = Math.max(...chunks.map((c) => c.dur));
          for (const s of segs)
            for (const p of s.parts) expect(p.durationTicks).toBeLessThan(partTargetTicks + maxChunk);
        },
      ),
      { numRuns: 500 },
    );
  });
});
