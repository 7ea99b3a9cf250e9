import { describe, expect, it } from 'vitest';
import { gcSeconds } from '../../tools/load/histograms.js';
import { type Sample, summarizeRamp } from '../../tools/load/ramp.js';

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
      'nodejs_gc_duration_seconds_sum{kind="minor"} 1.5',
      'nodejs_gc_duration_seconds_sum{kind="major"} 0.25',
      'nodejs_gc_duration_seconds_count{kind="major"} 3',
    ].join('\n');
    expect(gcSeconds(text)).toBe(1.75);
    expect(gcSeconds('# HELP nodejs_gc_duration_seconds ...\n')).toBe(0);
    expect(gcSeconds('')).toBeNaN();
  });
});
