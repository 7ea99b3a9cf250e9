import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SegmentEntry } from '../../src/core/index.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { ColdSweeper } from '../../src/store/cold/sweeper.js';
import { MemorySegmentArchive } from '../../src/store/memory/archive.js';

const log = pino({ level: 'silent' });
const T0 = 1_700_000_000_000;
const rec = (msn: number, initId = 0): Omit<SegmentEntry, 'parts'> => ({
  msn,
  discontinuitySeq: initId,
  discontinuity: false,
  initId,
  startTicks: msn * 180000,
  durationTicks: 180000,
  independent: true,
  byteLength: 10,
  wallClockMs: T0 + msn * 2000,
  periodStartTicks: 0,
  periodWallClockMs: T0,
});

async function fill(tier: MemoryColdTier, archive: MemorySegmentArchive, stream: string, n: number) {
  for (const r of ['v', 'a']) {
    await tier.put(`live/${stream}/${r}/init-0.mp4`, Buffer.from('i0'), 'video/mp4');
    await tier.put(`live/${stream}/${r}/init-1.mp4`, Buffer.from('i1'), 'video/mp4');
    for (let m = 0; m < n; m++) {
      const initId = m < n / 2 ? 0 : 1;
      await tier.put(`live/${stream}/${r}/seg-${m}.m4s`, Buffer.alloc(10), 'video/iso.segment');
      await archive.record(stream, r, rec(m, initId));
    }
  }
}

describe('cold sweeper', () => {
  it('deletes exactly the segments outside the window, the inits no kept segment uses, and trims the records', async () => {
    const tier = new MemoryColdTier();
    const archive = new MemorySegmentArchive();
    await fill(tier, archive, 's1', 100); // msn 0..99, 2 s apart; init 1 from msn 50
    await fill(tier, archive, 'keepme', 10);
    // bytes without a record: one below the newest deleted msn (a crash before its record) goes too; one above
    // stays (a segment being archived right now)
    await tier.put('live/s1/v/seg-5000.m4s', Buffer.alloc(1), 'x');
    await archive.trim('s1', 'v', T0 + 2 * 2000); // msn 0, 1 lose their records, keep their bytes
    const now = T0 + 200_000; // msn 100 would start here
    const sweeper = new ColdSweeper({
      tier,
      archive,
      log,
      streams: async () => ['s1', 'keepme', 'unknown'],
      retention: async (s) => (s === 's1' ? 60 : s === 'keepme' ? 'keep' : undefined),
      intervalMs: 60_000,
      batch: 7, // several deleteMany batches
      now: () => now,
    });
    const r = await sweeper.sweep();
    // window: first sample at or after now - 60 s = T0 + 140 s -> msn >= 70 kept
    for (const ren of ['v', 'a']) {
      const keys = (await tier.list(`live/s1/${ren}/`, 1000)).keys;
      const msns = keys.filter((k) => k.includes('seg-')).map((k) => Number(/seg-(\d+)/.exec(k)![1]));
      expect(msns.filter((m) => m < 5000).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 30 }, (_, i) => 70 + i),
      );
      expect(keys.filter((k) => k.includes('init-'))).toEqual([`live/s1/${ren}/init-1.mp4`]);
      const left = await archive.range('s1', ren, 0, Number.MAX_SAFE_INTEGER, 1000);
      expect(left.map((x) => x.msn)).toEqual(Array.from({ length: 30 }, (_, i) => 70 + i));
    }
    expect(r.trimmedRecords).toBe(138);
    expect(r.deletedObjects).toBe(70 * 2 + 2); // segments + init-0 of each rendition
    // the orphan above every deleted msn stays (it may be a segment being archived now)
    expect(await tier.head('live/s1/v/seg-5000.m4s')).not.toBeNull();
    // keep: untouched
    expect((await tier.list('live/keepme/', 1000)).keys).toHaveLength(2 * 12);
    // twice: nothing more to do (idempotent, safe from several processes)
    expect(await sweeper.sweep()).toMatchObject({ deletedObjects: 0, trimmedRecords: 0 });
  });

  it('a stream wholly outside its window loses every segment and all but its newest init', async () => {
    const tier = new MemoryColdTier();
    const archive = new MemorySegmentArchive();
    await fill(tier, archive, 's2', 10);
    const sweeper = new ColdSweeper({
      tier,
      archive,
      log,
      streams: async () => ['s2'],
      retention: async () => 6,
      intervalMs: 60_000,
      now: () => T0 + 10 * 86_400_000,
    });
    await sweeper.sweep();
    expect((await tier.list('live/s2/', 1000)).keys).toEqual([
      'live/s2/a/init-1.mp4',
      'live/s2/v/init-1.mp4',
    ]);
    expect(await archive.renditions('s2')).toEqual([]);
  });

  it('a tier outage fails the pass without trimming records whose bytes are still there', async () => {
    const tier = new MemoryColdTier();
    const archive = new MemorySegmentArchive();
    await fill(tier, archive, 's3', 10);
    tier.unavailable = true;
    const sweeper = new ColdSweeper({
      tier,
      archive,
      log,
      streams: async () => ['s3'],
      retention: async () => 6,
      intervalMs: 60_000,
      now: () => T0 + 86_400_000,
    });
    await expect(sweeper.sweep()).rejects.toThrow(/unavailable/);
    expect((await archive.range('s3', 'v', 0, Number.MAX_SAFE_INTEGER, 100)).length).toBe(10);
    tier.unavailable = false;
    await sweeper.sweep();
    expect((await archive.range('s3', 'v', 0, Number.MAX_SAFE_INTEGER, 100)).length).toBe(0);
  });
});
