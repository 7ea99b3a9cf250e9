/**
 * With a cold tier, Redis keeps only the hot part of a DVR window (issue #11): its TTLs and timeline length follow
 * cold.hotWindowSec, while the DVR window the reader lists stays whole. Without a cold tier, a window Redis cannot
 * sensibly hold (over a day) is a configuration error.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, streamSettings } from '../../src/config.js';
import { objectTtls, retention } from '../../src/core/index.js';

const base = { redisUrl: 'redis://127.0.0.1:1' };
const fourteenDays = 14 * 86_400;

describe('hot part of the DVR window', () => {
  it('a cold tier caps what Redis keeps at cold.hotWindowSec, the DVR window stays whole', () => {
    const c = parseConfig({
      ...base,
      cold: { type: 'disk', dir: '/tmp/x', hotWindowSec: 300 },
      defaults: { dvrWindowSec: fourteenDays, segmentSec: 2, partSec: 0.5, windowSec: 12 },
    });
    const s = streamSettings(c, 'ev');
    expect(s.dvrWindowSec).toBe(fourteenDays);
    expect(s.hotDvrWindowSec).toBe(300);
    const kept = retention(s);
    expect(kept.segmentsKept).toBe(152);
    // Segments listed for at most the hot window plus one target, then one more hot window: not 28 days.
    expect(kept.ttls.segmentSec).toBe(300 + 2 + 300 + 2);
    expect(objectTtls({ ...s, hotDvrWindowSec: undefined }).segmentSec).toBeGreaterThan(2 * fourteenDays);
  });

  it('without a cold tier the hot window is the DVR window, and over a day of it is refused', () => {
    const c = parseConfig({ ...base, defaults: { dvrWindowSec: 3600 } });
    expect(streamSettings(c, 's').hotDvrWindowSec).toBe(3600);
    expect(() => parseConfig({ ...base, defaults: { dvrWindowSec: fourteenDays } })).toThrow(ConfigError);
    expect(() =>
      parseConfig({ ...base, streams: [{ name: 'ev', key: 'k'.repeat(16), dvrWindowSec: 2 * 86_400 }] }),
    ).toThrow(/needs a cold tier/);
  });

  it('never keeps less than the live window hot', () => {
    const c = parseConfig({
      ...base,
      cold: { type: 'disk', dir: '/tmp/x', hotWindowSec: 6 },
      defaults: { dvrWindowSec: 3600, windowSec: 30 },
    });
    expect(streamSettings(c, 's').hotDvrWindowSec).toBe(30);
  });
});
