import { describe, expect, it } from 'vitest';
import { gauge, gcByKind, gcSeconds, histDeltaOfAll, quantiles } from '../../tools/load/histograms.js';
import { clientNiceFromEnv, readerNiceFromEnv } from '../../tools/load/pin.js';
import { type Sample, burstCauses, countPer5s, summarizeRamp } from '../../tools/load/ramp.js';

describe('bench:load ramp observation', () => {
  it('finds the longest run of a long accept queue and splits the main thread by queue state', () => {
    const q = [0, 10, 300, 511, 400, 100, 260, 0];
    const samples: Sample[] = q.map((queue, i) => ({
      t: i * 500,
      queue,
      cpu: queue >= 256 ? 0.9 : 0.2,
      wait: queue >= 256 ? 0.3 : 0,
    }));
    const s = summarizeRamp(samples, 511, 500);
    expect(s).toMatchObject({
      samples: 8,
      backlog: 511,
      queueMax: 511,
      samplesQueueAtLeast128: 4,
      samplesQueueOver511: 0,
      longestQueueAtLeast128Sec: 1.5,
      firstQueueAtLeast128Sec: 1,
      mainThreadWhileQueueLong: { cpu: 0.9, wait: 0.3 },
      mainThreadOtherwise: { cpu: 0.2, wait: 0 },
      queueMaxPer5s: [511],
      mainThreadWaitPer5s: [0.15],
    });
    const later = summarizeRamp([...samples, { t: 12_000, queue: 1, cpu: 0.5, wait: 0.5 }], 511, 500);
    expect(later.queueMaxPer5s).toEqual([511, 0, 1]);
    expect(later.mainThreadWaitPer5s).toEqual([0.15, NaN, 0.5]); // a 5 s without a sample: NaN (null in JSON)
  });

  it('bins the late releases and idle closes, and tells which requests opened connections at the start and after', () => {
    const t0 = 1_000_000;
    const c = burstCauses(
      [
        {
          releaseMs: [100, 251, 400, 250],
          releaseDoneAt: [t0 + 1000, t0 + 2000, t0 + 31_000, t0 + 32_000],
          newConnectionSentAt: [t0 + 10, t0 + 24_999, t0 + 29_999, t0 + 31_000],
          newConnectionKind: ['playlist', 'hinted-part', 'part', 'part'],
          idleClosedAt: [t0 + 29_000],
        },
        {
          releaseMs: [900],
          releaseDoneAt: [t0 + 6000],
          newConnectionSentAt: [],
          newConnectionKind: [],
          idleClosedAt: [t0 + 26_000, t0 + 36_000],
        },
      ],
      t0,
      8,
      20_000, // a longer ramp: its first 30 s count as the start
      250,
    );
    expect(c).toEqual({
      lateReleasesPer5s: { overOnePart: [1, 1, 0, 0, 0, 0, 1, 0], overTwoParts: [0, 1, 0, 0, 0, 0, 0, 0] },
      newConnectionsByKind: { first25s: { playlist: 1, 'hinted-part': 1, part: 1 }, after: { part: 1 } },
      idleClosedPer5s: [0, 0, 0, 0, 0, 2, 0, 1],
    });
    expect(burstCauses([], t0, 0, 15_000, 250)).toEqual({});
  });

  it('says never when the queue stayed short, and sums every kind of GC', () => {
    expect(summarizeRamp([{ t: 0, queue: 3, cpu: 0.1, wait: 0 }], 511, 200).firstQueueAtLeast128Sec).toBe(
      'never',
    );
    const text = [
      'wellspring_gc_pause_seconds_sum{kind="minor"} 1.5',
      'wellspring_gc_pause_seconds_sum{kind="major"} 0.25',
      'wellspring_gc_pause_seconds_count{kind="major"} 3',
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.125',
    ].join('\n');
    expect(gcSeconds(text)).toBe(1.75);
    expect(gcSeconds(text, 'nodejs_gc_duration_seconds')).toBe(0.125); // the standard name, when asked for
    expect(gcByKind(`${text}\nwellspring_gc_pause_seconds_sum{app="r",kind="minor"} 0.5`)).toEqual({
      minor: { count: 0, seconds: 2 },
      major: { count: 3, seconds: 0.25 },
    });
    expect(gcSeconds('# HELP wellspring_gc_pause_seconds ...\n')).toBe(0);
    expect(gcSeconds('')).toBeNaN();
    // Gauges: the unlabelled series, or the one whose labels hold what is asked (bench:load's newSpaceMb).
    const heap = 'h{space="old"} 5\nh{space="new"} 33554432\nh_total 1\nhandles 32';
    expect(gauge(heap, 'h', 'space="new"')).toBe(33554432);
    expect(gauge(heap, 'handles')).toBe(32);
    expect(gauge(heap, 'h')).toBeNaN();
  });

  it('counts times into the 5 s bins of the accept queue, the stragglers into the edge bins', () => {
    const t0 = 1_000_000;
    expect(countPer5s([t0 - 1, t0, t0 + 4999, t0 + 5000, t0 + 60_000, NaN], t0, 3)).toEqual([3, 1, 1]);
    expect(countPer5s([], t0, 0)).toEqual([0]);
  });

  it('adds up what a histogram gained in each of several processes, bucket by bucket', () => {
    const h = (a: number, b: number, inf: number, sum: number): string =>
      `x_bucket{le="0.01"} ${a}\nx_bucket{le="0.02"} ${b}\nx_bucket{le="+Inf"} ${inf}\nx_sum ${sum}\nx_count ${inf}\n`;
    const before = [h(1, 2, 2, 0.02), h(0, 0, 0, 0)];
    const after = [h(3, 6, 7, 0.2), h(0, 1, 1, 0.015)];
    const d = histDeltaOfAll(before, after, 'x');
    expect([...d.buckets]).toEqual([
      ['0.01', 2],
      ['0.02', 5],
      ['+Inf', 6],
    ]);
    expect(d.count).toBe(6);
    expect(d.sum).toBeCloseTo(0.195, 9);
    // 5 of 6 within 20 ms: the p50 in the 10-20 ms bucket, the p99 above it.
    expect(quantiles(d)).toMatchObject({ p50: { bucketMs: '10-20' }, p99: { ms: '> 20' } });
    expect(d.skipped).toBe(0);
    // A failed scrape (empty text) before or after leaves that process out, counted, never read as zeros.
    const lost = histDeltaOfAll([before[0]!, ''], [after[0]!, h(0, 1, 1, 0.015)], 'x');
    expect([lost.count, lost.skipped, lost.buckets.get('+Inf')]).toEqual([5, 1, 5]);
    expect(histDeltaOfAll(before, [after[0]!, ''], 'x')).toMatchObject({ count: 5, skipped: 1 });
  });

  it('reads the niceness knobs: the reader may be raised, the clients only lowered', () => {
    expect(readerNiceFromEnv({})).toBe(0);
    expect(readerNiceFromEnv({ BENCH_READER_NICE: ' -10 ' })).toBe(-10);
    expect(readerNiceFromEnv({ BENCH_READER_NICE: '19' })).toBe(19);
    for (const bad of ['-21', '20', '1.5', 'high'])
      expect(() => readerNiceFromEnv({ BENCH_READER_NICE: bad })).toThrow(/BENCH_READER_NICE/);
    expect(clientNiceFromEnv({ BENCH_CLIENT_NICE: '10' })).toBe(10);
    expect(() => clientNiceFromEnv({ BENCH_CLIENT_NICE: '-1' })).toThrow(/BENCH_CLIENT_NICE/);
  });
});
