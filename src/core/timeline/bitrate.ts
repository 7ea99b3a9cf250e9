import { bitsPerSecond } from '../format.js';
import type { TimelineSnapshot } from './types.js';

/** Peak (largest single segment) and average bitrate over the complete segments of a timeline, bits/s. */
export function measureBitrate(s: TimelineSnapshot): { peak: number; average: number } | undefined {
  if (s.segments.length === 0) return undefined;
  let peak = 0;
  let bytes = 0;
  let ticks = 0;
  for (const seg of s.segments) {
    peak = Math.max(peak, bitsPerSecond(seg.byteLength, seg.durationTicks, s.timescale));
    bytes += seg.byteLength;
    ticks += seg.durationTicks;
  }
  return { peak, average: bitsPerSecond(bytes, ticks, s.timescale) };
}
