/**
 * ManifestRenderer in process, over the memory store: media published through store.media, rendered, read back
 * through store.manifests. Checks positions and target durations, and that the files a part does not touch (the
 * multivariant playlist, the MPDs, the DVR playlists) are not stored again until a segment completes.
 */
import { describe, expect, it } from 'vitest';
import { type RenditionDescription, manifestName, retention } from '../../src/core/index.js';
import { ManifestRenderer } from '../../src/manifest/renderer.js';
import type { MediaEvent, StoredStreamSettings } from '../../src/store/ports.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { StoreFeed } from '../support/scenario.js';

const T0 = 1_763_755_200_000;
const STREAM = 'show';
const settings: StoredStreamSettings = { segmentSec: 2, partSec: 0.5, windowSec: 12, dvrWindowSec: 60 };
const kept = retention(settings);

const rendition = (name: string, kind: 'video' | 'audio', timescale: number, order: number) =>
  ({
    name,
    kind,
    codec: kind === 'video' ? 'avc1.64001f' : 'mp4a.40.2',
    timescale,
    width: kind === 'video' ? 1280 : undefined,
    height: kind === 'video' ? 720 : undefined,
    frameRate: kind === 'video' ? 30 : undefined,
    sampleRate: kind === 'audio' ? 48000 : undefined,
    channelCount: kind === 'audio' ? 2 : undefined,
    nominalBitrate: kind === 'video' ? 3_000_000 : 128_000,
    segmentTargetTicks: 2 * timescale,
    partTargetTicks: timescale / 2,
    order,
  }) satisfies RenditionDescription;

const ladder = [rendition('720p', 'video', 90000, 0), rendition('audio', 'audio', 48000, 1)];

const STREAM_FILES = [manifestName.master, manifestName.mpd, manifestName.mpdLowLatency];
const ALL_FILES = [
  ...STREAM_FILES,
  ...ladder.flatMap((r) => [
    manifestName.media(r.name),
    manifestName.mediaSkip(r.name),
    manifestName.dvr(r.name),
  ]),
];

async function setup() {
  const store = new MemoryStore();
  await store.streams.mark(STREAM, settings, 'live', T0);
  const feeds = ladder.map(
    (r) => new StoreFeed(store.media, STREAM, r, { settings, wallClockStartMs: T0, partsPerSegment: 4 }),
  );
  for (const f of feeds) await f.init();
  const options = { utcTimingUrl: '/time', targetLatencyMs: 1500, manifestTtlSec: 3600 };
  const renderer = new ManifestRenderer(store, options);
  const read = async (name: string) => (await store.manifests.read(STREAM, name))!;
  return { store, feeds, renderer, options, read };
}

describe('ManifestRenderer over the memory store', () => {
  it('stores every file with positions and target durations, then skips what a part does not touch', async () => {
    const { store, feeds, renderer, options, read } = await setup();
    const [video, audio] = feeds as [StoreFeed, StoreFeed];
    for (const f of feeds) await f.segment(0);
    for (const f of feeds) await f.part(1);
    await video.part(1);
    const events: MediaEvent[] = [];
    const sub = store.events.subscribe(STREAM, (e) => events.push(e));
    await sub.ready;

    const first = (await renderer.render(STREAM, T0 + 3000))!;
    expect(first.stored).toBe(ALL_FILES.length);
    expect(first.skipped).toBe(0);
    expect(first.positions).toEqual({ '720p': { msn: 1, part: 1 }, audio: { msn: 1, part: 0 } });
    for (const name of ALL_FILES) expect((await read(name)).version, name).toBe(first.version);
    const v = await read(manifestName.media('720p'));
    expect([v.msn, v.part, v.targetSec]).toEqual([1, 1, 2]);
    expect(v.body).toContain('#EXT-X-TARGETDURATION:2\n');
    expect(v.body).toContain('#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=1,LAST-PART=0');
    const a = await read(manifestName.mediaSkip('audio'));
    expect([a.msn, a.part, a.targetSec]).toEqual([1, 0, 2]);
    const dvr = await read(manifestName.dvr('720p'));
    expect([dvr.msn, dvr.part, dvr.targetSec]).toEqual([-1, -1, 2]);
    expect(dvr.body).toContain('seg-0.m4s');
    expect(dvr.body).not.toContain('part-');
    expect((await read(manifestName.master)).targetSec).toBe(kept.targetDurationSec);
    expect(events.filter((e) => e.t === 'manifest')).toEqual([
      { t: 'manifest', s: STREAM, v: first.version, pos: first.positions },
    ]);

    // A part of one rendition: both renditions' LL playlists change (EXT-X-RENDITION-REPORT); nothing else.
    const before = new Map(await Promise.all(ALL_FILES.map(async (n) => [n, await read(n)] as const)));
    await video.part(1);
    const second = (await renderer.render(STREAM, T0 + 3500))!;
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.skipped).toBe(STREAM_FILES.length + ladder.length);
    expect(second.stored).toBe(2 * ladder.length);
    expect(second.positions['720p']).toEqual({ msn: 1, part: 2 });
    const audioLl = await read(manifestName.media('audio'));
    expect(audioLl.version).toBe(second.version);
    expect(audioLl.body).toContain('#EXT-X-RENDITION-REPORT:URI="../720p/index.m3u8",LAST-MSN=1,LAST-PART=2');
    expect((await read(manifestName.mediaSkip('720p'))).part).toBe(2);
    for (const name of [...STREAM_FILES, ...ladder.map((r) => manifestName.dvr(r.name))])
      expect(await read(name), name).toEqual(before.get(name));

    // The segment completes in every rendition: the multivariant playlist, the MPDs and the DVR playlists follow.
    await video.segment(1);
    await audio.segment(1);
    await video.part(2);
    const third = (await renderer.render(STREAM, T0 + 4500))!;
    expect(third.skipped).toBe(0);
    for (const name of ALL_FILES) expect((await read(name)).version, name).toBe(third.version);
    expect((await read(manifestName.dvr('audio'))).body).toContain('seg-1.m4s');
    expect((await read(manifestName.mpd)).body).toContain(`startNumber="0"`);
    expect((await read(manifestName.media('720p'))).msn).toBe(2);

    // A renderer without a memo (another worker, a restart) renders everything; the store keeps what is newest.
    const fresh = new ManifestRenderer(store, options);
    const again = (await fresh.render(STREAM, T0 + 4600))!;
    expect(again.skipped).toBe(0);
    expect(again.stored + again.refused).toBe(ALL_FILES.length);
    sub.close();
  });

  it('re-renders everything when the stream state changes (ended: EXT-X-ENDLIST, static MPD)', async () => {
    const { store, feeds, renderer, read } = await setup();
    for (const f of feeds) await f.segment(0);
    await renderer.render(STREAM, T0 + 2000);
    await store.streams.mark(STREAM, settings, 'ended', T0 + 2100);
    const r = (await renderer.render(STREAM, T0 + 2200))!;
    expect(r.skipped).toBe(0);
    expect((await read(manifestName.dvr('720p'))).body).toContain('#EXT-X-ENDLIST');
    expect((await read(manifestName.mpd)).body).toContain('type="static"');
    // Nothing changed since: a repeat render stores only the media playlists.
    const repeat = (await renderer.render(STREAM, T0 + 2300))!;
    expect(repeat.skipped).toBe(STREAM_FILES.length + ladder.length);
    // Still nothing changed, but the last render is a target duration old: rendered again (another worker may
    // have stored a render from in between).
    const later = (await renderer.render(STREAM, T0 + 2200 + kept.targetDurationSec * 1000))!;
    expect(later.skipped).toBe(0);
  });
});
