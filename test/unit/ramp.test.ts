import { describe, expect, it } from 'vitest';
import { gauge, gcByKind, gcSeconds } from '../../tools/load/histograms.js';
import { type Sample, countPer5s, summarizeRamp } from '../../tools/load/ramp.js';

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
    });
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
});
