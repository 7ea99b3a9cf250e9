/**
 * Harvest (issue #11) over the memory store and cold tier: segments from the archive (bytes only in the cold
 * tier) and from the live timeline (bytes in the hot tier) are copied into the asset; a missing msn is a gap
 * and a discontinuity; a failed harvest publishes nothing; the same request again answers done.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { coldKey } from '../../src/core/names/cold.js';
import type { SegmentEntry } from '../../src/core/timeline/types.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { VodAssets } from '../../src/vod/assets.js';
import { HarvestRequestError, runHarvest } from '../../src/vod/harvest.js';

const T0 = Date.parse('2026-11-30T08:00:00Z');
const seg = (msn: number): SegmentEntry => ({
  msn,
  discontinuitySeq: 0,
  discontinuity: false,
  initId: 0,
  startTicks: msn * 90_000,
  durationTicks: 90_000,
  independent: true,
  byteLength: 4,
  wallClockMs: T0 + msn * 1000,
  periodStartTicks: 0,
  periodWallClockMs: T0,
  parts: [],
});

async function setup() {
  const store = new MemoryStore();
  const cold = new MemoryColdTier();
  const settings = { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 60 };
  await store.streams.mark('cam', settings, 'live', T0);
  const info = {
    name: 'v',
    kind: 'video' as const,
    codec: 'avc1.64001e',
    timescale: 90_000,
    width: 640,
    height: 360,
    nominalBitrate: 500_000,
    segmentTargetTicks: 90_000,
    partTargetTicks: 22_500,
    order: 0,
  };
  await store.media.publishInit('cam', info, 0, new Uint8Array([1, 2, 3]), 600);
  await cold.put(coldKey.live('cam', 'v', 'init-0.mp4'), new Uint8Array([1, 2, 3]), 'video/mp4');
  // msn 1, 2: archived (bytes in the cold tier only); 3 missing; 4..6 live (hot).
  for (const m of [1, 2]) {
    await cold.put(coldKey.live('cam', 'v', `seg-${m}.m4s`), new Uint8Array([m, m, m, m]), 'video/mp4');
    const { parts: _p, ...rec } = seg(m);
    await store.archive.record('cam', 'v', rec);
  }
  const w = { segmentSec: 600, initSec: 600, keepSegments: 100, keepPartsSegments: 0 };
  for (const m of [4, 5, 6])
    await store.media.publishSegment('cam', 'v', seg(m), new Uint8Array([m, m, m, m]), w);
  const assets = new VodAssets(cold);
  return { store, cold, assets, deps: { ...store, cold, assets, log: pino({ level: 'silent' }) } };
}

describe('harvest', () => {
  it('copies archived and live segments into the asset, with the gap as a discontinuity', async () => {
    const { deps, cold, assets } = await setup();
    const r = await runHarvest(deps, { asset: 'clip', stream: 'cam', startMs: T0, endMs: T0 + 10_000 });
    expect(r.gaps).toEqual([{ rendition: 'v', afterMsn: 2, beforeMsn: 4 }]);
    expect(r.discontinuities).toBe(1);
    expect(r.segments).toBe(5);
    const a = await assets.describe('clip');
    expect(a?.renditions[0]?.segments.map((s) => s.msn)).toEqual([1, 2, 4, 5, 6]);
    expect((await cold.get(coldKey.vod('clip', 'v/seg-1.m4s')))?.bytes).toEqual(Buffer.from([1, 1, 1, 1]));
    expect((await cold.get(coldKey.vod('clip', 'v/seg-5.m4s')))?.bytes).toEqual(Buffer.from([5, 5, 5, 5]));
    const media = (await cold.get(coldKey.vod('clip', 'v/index.m3u8')))!.bytes.toString();
    expect(media).toContain('#EXT-X-DISCONTINUITY\n');
    // The same request again: done, nothing rewritten.
    const again = await runHarvest(deps, { asset: 'clip', stream: 'cam', startMs: T0, endMs: T0 + 10_000 });
    expect(again.alreadyPublished).toBe(true);
  });

  it('refuses a range outside the window; a cold tier failing mid-way publishes nothing, and a retry completes', async () => {
    const { deps, cold, assets } = await setup();
    await expect(
      runHarvest(deps, { asset: 'x', stream: 'cam', startMs: T0 + 3_600_000, endMs: T0 + 3_700_000 }),
    ).rejects.toThrow(HarvestRequestError);
    let puts = 0;
    const put = cold.put.bind(cold);
    cold.put = async (k, b, t) => {
      if (k.startsWith('vod/') && ++puts === 3) cold.unavailable = true;
      return put(k, b, t);
    };
    await expect(
      runHarvest(deps, { asset: 'y', stream: 'cam', startMs: T0, endMs: T0 + 10_000 }),
    ).rejects.toThrow();
    cold.unavailable = false;
    // Not published (no asset.json, no manifest); the objects written before the outage could not be deleted while
    // the tier was away: they stay unlisted until the job's retry rewrites them and publishes.
    expect(await assets.exists('y')).toBe(false);
    const left = (await cold.list('vod/y/', 100)).keys;
    expect(left.some((k) => k.endsWith('.m3u8') || k.endsWith('.mpd') || k.endsWith('asset.json'))).toBe(
      false,
    );
    expect(left.length).toBeGreaterThan(0);
    // With the tier back, a new attempt publishes the asset.
    cold.put = put;
    expect(
      (await runHarvest(deps, { asset: 'y', stream: 'cam', startMs: T0, endMs: T0 + 10_000 })).segments,
    ).toBe(5);
  });
});
