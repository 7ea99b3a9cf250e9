import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SegmentEntry } from '../../src/core/index.js';
import { ColdArchiver, type ArchiverOptions } from '../../src/store/cold/archiver.js';
import { ArchivingMediaStore } from '../../src/store/cold/archiving-media.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { MemorySegmentArchive } from '../../src/store/memory/archive.js';
import { MemoryStore } from '../../src/store/memory/index.js';

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const seg = (msn: number, wallClockMs = 1_000_000 + msn * 2000): SegmentEntry => ({
  msn,
  discontinuitySeq: 0,
  discontinuity: false,
  initId: 0,
  startTicks: msn * 180000,
  durationTicks: 180000,
  independent: true,
  byteLength: 100,
  wallClockMs,
  periodStartTicks: 0,
  periodWallClockMs: 1_000_000,
  parts: [],
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function make(over: Partial<ArchiverOptions> = {}) {
  const tier = new MemoryColdTier();
  const archive = new MemorySegmentArchive();
  const { log, lines } = captureLog();
  const archiver = new ColdArchiver({
    tier,
    archive,
    log,
    maxItems: 100,
    maxBytes: 1 << 20,
    concurrency: 2,
    retryBaseMs: 5,
    retryMaxMs: 40,
    maxAttempts: 3,
    ...over,
  });
  return { tier, archive, archiver, lines };
}

describe('cold archiver', () => {
  it('copies inits and segments to the tier, then records the segments in the archive', async () => {
    const { tier, archive, archiver } = make();
    archiver.enqueueInit('s1', 'v', 0, Buffer.from('init'));
    for (let m = 0; m < 5; m++) archiver.enqueueSegment('s1', 'v', seg(m), Buffer.alloc(100, m));
    await archiver.idle();
    expect(tier.size).toBe(6);
    expect((await tier.get('live/s1/v/seg-3.m4s'))!.bytes).toEqual(Buffer.alloc(100, 3));
    expect((await tier.get('live/s1/v/init-0.mp4'))!.bytes.toString()).toBe('init');
    const recs = await archive.range('s1', 'v', 0, Number.MAX_SAFE_INTEGER, 100);
    expect(recs.map((r) => r.msn)).toEqual([0, 1, 2, 3, 4]);
    expect(recs[0]).not.toHaveProperty('parts');
    expect(archiver.stats).toMatchObject({ stored: 6, failed: 0, dropped: 0, backlogItems: 0 });
  });

  it('while the tier is down the backlog grows, one line logs the outage, and it catches up with nothing lost', async () => {
    const { tier, archive, archiver, lines } = make();
    tier.unavailable = true;
    archiver.enqueueInit('s1', 'v', 0, Buffer.from('init'));
    for (let m = 0; m < 20; m++) archiver.enqueueSegment('s1', 'v', seg(m), Buffer.alloc(100, m));
    await until(() => tier.calls.put >= 4); // several retries happened
    expect(archiver.stats.backlogItems).toBe(21);
    expect(archiver.stats.backlogBytes).toBe(4 + 20 * 100);
    expect(archiver.stats.outages).toBe(1);
    expect(lines.filter((l) => /unreachable/.test(String(l.msg)))).toHaveLength(1);
    expect(await archive.renditions('s1')).toEqual([]); // nothing recorded before its bytes are cold
    tier.unavailable = false;
    await archiver.idle();
    expect(tier.size).toBe(21);
    expect((await archive.range('s1', 'v', 0, Number.MAX_SAFE_INTEGER, 100)).length).toBe(20);
    expect(archiver.stats).toMatchObject({ stored: 21, dropped: 0, failed: 0, backlogItems: 0 });
    expect(lines.filter((l) => /reachable again/.test(String(l.msg)))).toHaveLength(1);
  });

  it('past the bound drops the oldest segment writes, keeps the init, counts and logs the loss', async () => {
    const { tier, archiver, lines } = make({ maxItems: 5 });
    tier.unavailable = true;
    archiver.enqueueInit('s1', 'v', 0, Buffer.from('init'));
    for (let m = 0; m < 10; m++) archiver.enqueueSegment('s1', 'v', seg(m), Buffer.alloc(100, m));
    // The init may be in flight (failing) while the bound applies; either way 5 are kept.
    expect(archiver.stats.backlogItems).toBe(5);
    expect(archiver.stats.dropped).toBe(6);
    const dropLines = lines.filter((l) => /dropped the oldest/.test(String(l.msg)));
    expect(dropLines.length).toBeGreaterThanOrEqual(1);
    tier.unavailable = false;
    await archiver.idle();
    const keys = (await tier.list('live/s1/v/', 100)).keys;
    expect(keys).toEqual([
      'live/s1/v/init-0.mp4',
      'live/s1/v/seg-6.m4s',
      'live/s1/v/seg-7.m4s',
      'live/s1/v/seg-8.m4s',
      'live/s1/v/seg-9.m4s',
    ]);
  });

  it('bounds the backlog by bytes too', async () => {
    const { tier, archiver } = make({ maxBytes: 350 });
    tier.unavailable = true;
    for (let m = 0; m < 10; m++) archiver.enqueueSegment('s1', 'v', seg(m), Buffer.alloc(100, m));
    expect(archiver.stats.backlogBytes).toBeLessThanOrEqual(350);
    expect(archiver.stats.dropped).toBe(7);
    tier.unavailable = false;
    await archiver.idle();
  });

  it('writes a lane in order: an init reaches the tier before the segments that use it', async () => {
    const { tier, archiver } = make({ concurrency: 4 });
    const order: string[] = [];
    const put = tier.put.bind(tier);
    tier.put = async (key, bytes, type) => {
      order.push(key);
      await new Promise((r) => setTimeout(r, 2));
      return put(key, bytes, type);
    };
    for (const r of ['v', 'a']) {
      archiver.enqueueInit('s1', r, 0, Buffer.from('i'));
      archiver.enqueueSegment('s1', r, seg(0), Buffer.alloc(10));
      archiver.enqueueInit('s1', r, 1, Buffer.from('j'));
      archiver.enqueueSegment('s1', r, { ...seg(1), initId: 1 }, Buffer.alloc(10));
    }
    await archiver.idle();
    for (const r of ['v', 'a']) {
      expect(order.filter((k) => k.startsWith(`live/s1/${r}/`))).toEqual([
        `live/s1/${r}/init-0.mp4`,
        `live/s1/${r}/seg-0.m4s`,
        `live/s1/${r}/init-1.mp4`,
        `live/s1/${r}/seg-1.m4s`,
      ]);
    }
  });

  it('gives up on a write failing with a non-outage error after maxAttempts, counted as failed', async () => {
    const { tier, archiver, lines } = make();
    const put = tier.put.bind(tier);
    tier.put = async (key, bytes, type) => {
      if (key.endsWith('seg-1.m4s')) throw new Error('boom');
      return put(key, bytes, type);
    };
    for (let m = 0; m < 3; m++) archiver.enqueueSegment('s1', 'v', seg(m), Buffer.alloc(10));
    await archiver.idle();
    expect(archiver.stats).toMatchObject({ stored: 2, failed: 1, dropped: 0 });
    expect(lines.some((l) => /giving up/.test(String(l.msg)) && l.file === 'seg-1.m4s')).toBe(true);
  });

  it('in the ingest role, every hot init and segment write reaches the tier; a republished init is copied once', async () => {
    const hot = new MemoryStore();
    const { tier, archiver } = make();
    const media = new ArchivingMediaStore(hot.media, archiver);
    await hot.streams.mark('s1', { segmentSec: 2, partSec: 0.5, windowSec: 12, dvrWindowSec: 60 }, 'live', 0);
    const info = {
      name: 'v',
      kind: 'video' as const,
      codec: 'avc1.64001f',
      timescale: 90000,
      nominalBitrate: 1e6,
      segmentTargetTicks: 180000,
      partTargetTicks: 45000,
      order: 0,
    };
    await media.publishInit('s1', info, 0, Buffer.from('init'), 60);
    await media.publishInit('s1', info, 0, Buffer.from('init'), 60);
    const w = { segmentSec: 60, initSec: 60, keepSegments: 10, keepPartsSegments: 2 };
    for (let m = 0; m < 3; m++)
      expect(await media.publishSegment('s1', 'v', seg(m), Buffer.alloc(100, m), w)).toBeGreaterThan(0);
    await archiver.idle();
    expect(tier.calls.put).toBe(4);
    expect((await tier.get('live/s1/v/seg-2.m4s'))!.bytes).toEqual(
      await hot.media.getObject('s1', 'v', 'seg-2.m4s'),
    );
  });
});
