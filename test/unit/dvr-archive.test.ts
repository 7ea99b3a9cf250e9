/**
 * The SegmentArchive adapters (issue #11) hold the same contract: records by first-sample wall clock in
 * [fromMs, toMs), ascending by msn, the oldest or newest `max`, idempotent by msn, trimmed by wall clock, the
 * renditions with records listed. Memory in process; Redis against the suite's real redis-server and 3-master
 * Cluster (every key of the stream on its slot: the scripts would fail with CROSSSLOT otherwise).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, redisTarget } from '../../src/config.js';
import type { SegmentEntry } from '../../src/core/index.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { SegmentArchive, Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { decodeRecord, encodeRecord } from '../../src/store/redis/archive.js';

const T0 = 1_700_000_000_000;
const rec = (msn: number, o: Partial<SegmentEntry> = {}): Omit<SegmentEntry, 'parts'> => ({
  msn,
  discontinuitySeq: 0,
  discontinuity: false,
  initId: 0,
  startTicks: msn * 180_000,
  durationTicks: 180_000,
  independent: true,
  byteLength: 1000 + msn,
  wallClockMs: T0 + msn * 2000,
  periodStartTicks: 0,
  periodWallClockMs: T0,
  ...o,
});

const stores: Array<{ name: string; make: () => Store }> = [
  { name: 'memory', make: () => new MemoryStore() },
  {
    name: 'redis-server',
    make: () =>
      createRedisStore({
        target: redisTarget(parseConfig({ redisUrl: inject('redisUrl') })),
        prefix: `t${randomBytes(4).toString('hex')}`,
        role: 'command',
      }),
  },
  {
    name: '3-master Redis Cluster',
    make: () =>
      createRedisStore({
        target: redisTarget(
          parseConfig({ redis: { cluster: { nodes: inject('redisClusterNodes').split(',') } } }),
        ),
        prefix: `t${randomBytes(4).toString('hex')}`,
        role: 'command',
      }),
  },
];

const opened: Store[] = [];
afterAll(async () => {
  for (const s of opened) await s.close();
});

describe.each(stores)('SegmentArchive on $name', ({ make }) => {
  const archive = (): SegmentArchive => {
    const s = make();
    opened.push(s);
    return s.archive;
  };

  it('answers ranges by wall clock in [from, to), ascending by msn, the oldest or the newest max', async () => {
    const a = archive();
    for (const msn of [5, 3, 4, 0, 1, 2]) await a.record('cam', '360p', rec(msn));
    const all = await a.range('cam', '360p', -Infinity, Infinity, 100);
    expect(all.map((r) => r.msn)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(all[3]).toEqual(rec(3));
    const mid = await a.range('cam', '360p', T0 + 2000, T0 + 8000, 100);
    expect(mid.map((r) => r.msn)).toEqual([1, 2, 3]);
    expect((await a.range('cam', '360p', T0, T0 + 100_000, 2)).map((r) => r.msn)).toEqual([0, 1]);
    expect((await a.range('cam', '360p', T0, T0 + 100_000, 2, true)).map((r) => r.msn)).toEqual([4, 5]);
    expect(await a.range('cam', '360p', T0 + 1, T0 + 1, 10)).toEqual([]);
    expect(await a.range('cam', '720p', -Infinity, Infinity, 10)).toEqual([]);
  });

  it('is idempotent by msn and keeps discontinuity fields exact', async () => {
    const a = archive();
    const d = rec(7, { discontinuity: true, discontinuitySeq: 2, initId: 3, periodStartTicks: 1_260_000 });
    await a.record('cam', 'audio', d);
    await a.record('cam', 'audio', { ...d, parts: [] } as unknown as Omit<SegmentEntry, 'parts'>);
    await a.record('cam', 'audio', d);
    expect(await a.range('cam', 'audio', -Infinity, Infinity, 10)).toEqual([d]);
    expect(await a.renditions('cam')).toEqual(['audio']);
  });

  it('trims records that started before a time and forgets a rendition left empty', async () => {
    const a = archive();
    for (let msn = 0; msn < 10; msn++) await a.record('cam', '360p', rec(msn));
    await a.record('cam', '720p', rec(0));
    expect(await a.renditions('cam')).toEqual(['360p', '720p']);
    expect(await a.trim('cam', '360p', T0 + 6000)).toBe(3);
    expect((await a.range('cam', '360p', -Infinity, Infinity, 100)).map((r) => r.msn)).toEqual([
      3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(await a.trim('cam', '720p', T0 + 1)).toBe(1);
    expect(await a.renditions('cam')).toEqual(['360p']);
    expect(await a.trim('cam', 'none', T0)).toBe(0);
  });

  it('refuses unsafe names', async () => {
    const a = archive();
    await expect(a.record('../x', '360p', rec(0))).rejects.toThrow(/unsafe/);
    await expect(a.range('cam', 'a b', 0, 1, 1)).rejects.toThrow(/unsafe/);
  });
});

describe('Redis archive record encoding', () => {
  it('round-trips every field and rejects a malformed row', () => {
    const r = rec(123_456, { discontinuity: true, independent: false, discontinuitySeq: 9, initId: 4 });
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
    expect(encodeRecord(r).length).toBeLessThan(90);
    expect(() => decodeRecord('1,2,3')).toThrow(/malformed/);
  });
});
