import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mediaEtag, type SegmentEntry } from '../../src/core/index.js';
import { openDiskColdTier, type DiskColdTier } from '../../src/store/cold/disk/index.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { isStoreUnavailable } from '../../src/store/errors.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { TieredMediaStore, type TieredOptions } from '../../src/store/tiered/index.js';

const log = pino({ level: 'silent' });
const seg = (msn: number): SegmentEntry => ({
  msn,
  discontinuitySeq: 0,
  discontinuity: false,
  initId: 0,
  startTicks: msn * 180000,
  durationTicks: 180000,
  independent: true,
  byteLength: 100,
  wallClockMs: 1_000_000 + msn * 2000,
  periodStartTicks: 0,
  periodWallClockMs: 1_000_000,
  parts: [],
});

describe('tiered read (memory hot, disk cold)', () => {
  let dir: string;
  let cold: DiskColdTier;
  let clock: number;
  let hot: MemoryStore;
  const make = (over: Partial<TieredOptions> = {}) =>
    new TieredMediaStore({
      hot: hot.media,
      cold,
      log,
      cacheBytes: 1 << 20,
      promoteAfter: 3,
      promoteWindowMs: 60_000,
      promoteTtlSec: 30,
      missTtlMs: 1000,
      now: () => clock,
      ...over,
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cold-tiered-'));
    cold = await openDiskColdTier({ dir });
    clock = 1_000_000;
    hot = new MemoryStore({ now: () => clock });
    await hot.streams.mark(
      's1',
      { segmentSec: 2, partSec: 0.5, windowSec: 12, dvrWindowSec: 600 },
      'live',
      clock,
    );
    await hot.media.publishInit(
      's1',
      {
        name: 'v',
        kind: 'video',
        codec: 'avc1.64001f',
        timescale: 90000,
        nominalBitrate: 1e6,
        segmentTargetTicks: 180000,
        partTargetTicks: 45000,
        order: 0,
      },
      0,
      Buffer.from('init'),
      10,
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a segment that left the hot tier from the cold tier, byte for byte, with the same ETag', async () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    await hot.media.publishSegment('s1', 'v', seg(7), bytes, {
      segmentSec: 10,
      initSec: 10,
      keepSegments: 5,
      keepPartsSegments: 1,
    });
    const hotCopy = (await hot.media.getObject('s1', 'v', 'seg-7.m4s'))!;
    const meta = await cold.put('live/s1/v/seg-7.m4s', bytes, 'video/iso.segment');
    expect(meta.etag).toBe(mediaEtag('seg-7.m4s', hotCopy.length));
    clock += 11_000; // the hot copy expires
    expect(await hot.media.getObject('s1', 'v', 'seg-7.m4s')).toBeNull();
    const tiered = make();
    const coldCopy = await tiered.getObject('s1', 'v', 'seg-7.m4s');
    expect(coldCopy).toEqual(hotCopy);
    expect(tiered.stats.coldHits).toBe(1);
    const ranged = await cold.get('live/s1/v/seg-7.m4s', { start: 100, end: 1099 });
    expect(ranged!.bytes).toEqual(hotCopy.subarray(100, 1100));
    expect(ranged!.meta.etag).toBe(mediaEtag('seg-7.m4s', 5000));
  });

  it('caches cold reads in process and promotes an object read often into the hot tier with a TTL', async () => {
    await cold.put('live/s1/v/seg-3.m4s', Buffer.alloc(300, 3), 'video/iso.segment');
    const tiered = make();
    for (let i = 0; i < 3; i++) expect((await tiered.getObject('s1', 'v', 'seg-3.m4s'))!.length).toBe(300);
    expect(tiered.stats).toMatchObject({ coldHits: 1, cacheHits: 2, promotions: 0 });
    expect(await hot.media.getObject('s1', 'v', 'seg-3.m4s')).toBeNull();
    await tiered.getObject('s1', 'v', 'seg-3.m4s'); // the 4th read in the window: promoted
    for (let i = 0; i < 100 && tiered.stats.promotions === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(tiered.stats.promotions).toBe(1);
    expect(await hot.media.getObject('s1', 'v', 'seg-3.m4s')).toEqual(Buffer.alloc(300, 3));
    clock += 31_000;
    expect(await hot.media.getObject('s1', 'v', 'seg-3.m4s')).toBeNull(); // the promotion's TTL
  });

  it('never promotes over a hot copy, and bounds its cache by bytes', async () => {
    const tiered = make({ cacheBytes: 1000, promoteAfter: 0 });
    for (let m = 0; m < 5; m++) await cold.put(`live/s1/v/seg-${m}.m4s`, Buffer.alloc(400, m), 'x');
    for (let m = 0; m < 5; m++) await tiered.getObject('s1', 'v', `seg-${m}.m4s`);
    expect(tiered.stats.coldHits).toBe(5);
    await tiered.getObject('s1', 'v', 'seg-4.m4s');
    expect(tiered.stats.cacheHits).toBe(1);
    await tiered.getObject('s1', 'v', 'seg-0.m4s');
    expect(tiered.stats.coldHits).toBe(6); // evicted: read again from cold
    const m = new MemoryStore();
    await m.media.putObject!('s1', 'v', 'seg-1.m4s', Buffer.from('first'), 10);
    await m.media.putObject!('s1', 'v', 'seg-1.m4s', Buffer.from('other'), 10);
    expect((await m.media.getObject('s1', 'v', 'seg-1.m4s'))!.toString()).toBe('first');
  });

  it('a part is never looked up cold; a cold miss is remembered for missTtlMs', async () => {
    const tiered = make();
    expect(await tiered.getObject('s1', 'v', 'part-9.0.m4s')).toBeNull();
    expect(await tiered.getObject('s1', 'v', 'seg-9.m4s')).toBeNull();
    expect(await tiered.getObject('s1', 'v', 'seg-9.m4s')).toBeNull();
    expect(tiered.stats.coldMisses).toBe(1);
    clock += 1001;
    await cold.put('live/s1/v/seg-9.m4s', Buffer.from('late'), 'x');
    expect((await tiered.getObject('s1', 'v', 'seg-9.m4s'))!.toString()).toBe('late');
  });

  it('the cold tier unreachable is a store-unavailable error (503), not a miss', async () => {
    const mem = new MemoryColdTier();
    mem.unavailable = true;
    const tiered = make({ cold: mem });
    const err = await tiered.getObject('s1', 'v', 'seg-1.m4s').catch((e: unknown) => e);
    expect(isStoreUnavailable(err)).toBe(true);
    // the hot tier still answers what it holds
    expect((await tiered.getObject('s1', 'v', 'init-0.mp4'))!.toString()).toBe('init');
  });

  it('the segment being filled is a hot miss, never a cold read, even with the cold tier down', async () => {
    const mem = new MemoryColdTier();
    const tiered = make({ cold: mem });
    const open = { ...seg(7), parts: [] };
    const part = {
      msn: 7,
      index: 0,
      startTicks: 7 * 180000,
      durationTicks: 45000,
      independent: true,
      byteLength: 4,
    };
    await hot.media.publishPart('s1', 'v', part, open, Buffer.from('part'), { partSec: 10, openSec: 10 });
    mem.unavailable = true;
    // in progress and the one after it: a miss the reader waits on, not a 503
    expect(await tiered.getObject('s1', 'v', 'seg-7.m4s')).toBeNull();
    expect(await tiered.getObject('s1', 'v', 'seg-8.m4s')).toBeNull();
    expect(tiered.stats.coldMisses).toBe(0);
    // an older segment the hot tier lost still needs the cold tier, and its outage is still a 503
    const err = await tiered.getObject('s1', 'v', 'seg-6.m4s').catch((e: unknown) => e);
    expect(isStoreUnavailable(err)).toBe(true);
  });

  it('the hot tier unreachable: a cold copy is still served', async () => {
    await cold.put('live/s1/v/seg-2.m4s', Buffer.from('cold'), 'x');
    const tiered = make();
    hot.unreachable = new Error('down');
    expect((await tiered.getObject('s1', 'v', 'seg-2.m4s'))!.toString()).toBe('cold');
    const err = await tiered.getObject('s1', 'v', 'seg-5.m4s').catch((e: unknown) => e);
    expect(isStoreUnavailable(err)).toBe(true);
  });
});
