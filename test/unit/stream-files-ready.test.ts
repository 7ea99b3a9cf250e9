/**
 * A new stream's multivariant playlist and MPDs are never published with fewer renditions than the stream has:
 * the ingest records the ladder's rendition names in the stream's settings when it marks the stream live, and
 * ManifestRenderer stores master.m3u8 and the MPDs only once every one of them has an init and media. Until then
 * the reader answers 404, cached for 1 s. ManifestRenderer and the reader over the memory store.
 */
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RenditionDescription,
  manifestName,
  publicPath,
  type TimelineSnapshot,
  streamFileReady,
} from '../../src/core/index.js';
import { ManifestRenderer } from '../../src/manifest/renderer.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { StoredStreamSettings } from '../../src/store/ports.js';
import { type ServedReader, serveReader } from '../support/reader-server.js';
import { StoreFeed } from '../support/scenario.js';

const T0 = 1_763_755_200_000;
const STREAM = 'fresh';

const rendition = (name: string, kind: 'video' | 'audio', order: number): RenditionDescription => {
  const timescale = kind === 'video' ? 90000 : 48000;
  return {
    name,
    kind,
    codec: kind === 'video' ? 'avc1.64001f' : 'mp4a.40.2',
    timescale,
    width: kind === 'video' ? (name === '720p' ? 1280 : 640) : undefined,
    height: kind === 'video' ? (name === '720p' ? 720 : 360) : undefined,
    frameRate: kind === 'video' ? 30 : undefined,
    sampleRate: kind === 'audio' ? 48000 : undefined,
    channelCount: kind === 'audio' ? 2 : undefined,
    nominalBitrate: kind === 'video' ? 3_000_000 : 128_000,
    segmentTargetTicks: 2 * timescale,
    partTargetTicks: timescale / 2,
    order,
  };
};
const ladder = [
  rendition('720p', 'video', 0),
  rendition('360p', 'video', 1),
  rendition('audio', 'audio', 100),
];
const settings: StoredStreamSettings = {
  segmentSec: 2,
  partSec: 0.5,
  windowSec: 12,
  dvrWindowSec: 60,
  renditions: ladder.map((r) => r.name),
};
const STREAM_FILES = [manifestName.master, manifestName.mpd, manifestName.mpdLowLatency];

const served: ServedReader[] = [];
afterEach(async () => {
  for (const r of served.splice(0)) await r.close();
});

async function setup() {
  const store = new MemoryStore();
  await store.streams.mark(STREAM, settings, 'live', T0);
  const feed = Object.fromEntries(
    ladder.map((r) => [
      r.name,
      new StoreFeed(store.media, STREAM, r, { settings, wallClockStartMs: T0, partsPerSegment: 4 }),
    ]),
  ) as Record<string, StoreFeed>;
  const renderer = new ManifestRenderer(store, {
    utcTimingUrl: '/time',
    targetLatencyMs: 1500,
    manifestTtlSec: 3600,
  });
  const stored = async () => {
    const out: Record<string, string | undefined> = {};
    for (const name of STREAM_FILES) out[name] = (await store.manifests.read(STREAM, name))?.body;
    return out;
  };
  const reader = await serveReader(store, { archive: false });
  served.push(reader);
  const base = reader.base;
  return { store, feed, renderer, stored, base };
}

/** Every rendition playlist a multivariant playlist names (variants and audio renditions), sorted. */
function listed(text: string): string[] {
  const p = new Parser();
  p.push(text);
  p.end();
  const variants = (p.manifest.playlists as Array<{ uri: string }>).map((v) => v.uri);
  const audio = Object.values((p.manifest.mediaGroups.AUDIO.audio ?? {}) as Record<string, { uri?: string }>)
    .map((a) => a.uri)
    .filter((u): u is string => u !== undefined);
  return [...new Set([...variants, ...audio])].sort();
}

/** The Representations an MPD lists (every period), by name. */
function representations(text: string, nowMs: number): string[] {
  const m = parseMpd(text, {
    manifestUri: 'http://cdn.test/live/fresh/manifest.mpd',
    NOW: nowMs,
    clientOffset: 0,
  });
  type Pl = { attributes: { NAME: string } };
  const audio = Object.values(m.mediaGroups.AUDIO?.audio ?? {}).flatMap(
    (g) => (g as { playlists: Pl[] }).playlists,
  );
  return [...new Set([...(m.playlists as Pl[]), ...audio].map((p) => p.attributes.NAME))].sort();
}

const ALL = ['360p', '720p', 'audio'];
const ALL_PLAYLISTS = ['360p/index.m3u8', '720p/index.m3u8', 'audio/index.m3u8'];

describe('a new stream publishes its multivariant playlist and MPDs only with every rendition', () => {
  it('audio first: nothing stream-level stored (404, max-age=1); then the video renditions: every file lists all', async () => {
    const { feed, renderer, stored, base } = await setup();
    const none = {
      [manifestName.master]: undefined,
      [manifestName.mpd]: undefined,
      [manifestName.mpdLowLatency]: undefined,
    };
    // The audio rendition's init and parts arrive first, as they did in the field.
    await feed.audio!.init();
    await feed.audio!.part(0);
    await feed.audio!.part(0);
    const r = (await renderer.render(STREAM, T0 + 1000))!;
    expect(r.stored).toBeGreaterThan(0); // the audio media playlists are stored
    expect(await stored()).toEqual(none);
    for (const path of [
      publicPath.master(STREAM),
      publicPath.mpd(STREAM),
      publicPath.mpdLowLatency(STREAM),
    ]) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=1');
    }

    // The video inits arrive; one video rendition has no media yet: still nothing (its variant would be empty).
    await feed['720p']!.init();
    await feed['360p']!.init();
    await feed['720p']!.part(0);
    await renderer.render(STREAM, T0 + 1200);
    expect(await stored()).toEqual(none);

    // The last rendition's first part: the multivariant playlist and the LL MPD list them all; the classic MPD
    // (complete segments only) waits for every rendition's first segment.
    await feed['360p']!.part(0);
    await renderer.render(STREAM, T0 + 1400);
    let files = await stored();
    expect(listed(files[manifestName.master]!)).toEqual(ALL_PLAYLISTS);
    expect(representations(files[manifestName.mpdLowLatency]!, T0 + 1400)).toEqual(ALL);
    expect(files[manifestName.mpd]).toBeUndefined();
    const res = await fetch(base + publicPath.master(STREAM));
    expect(res.status).toBe(200);
    expect(listed(await res.text())).toEqual(ALL_PLAYLISTS);

    await feed.audio!.segment(0);
    await feed['720p']!.segment(0);
    await renderer.render(STREAM, T0 + 2000);
    expect((await stored())[manifestName.mpd]).toBeUndefined();
    await feed['360p']!.segment(0);
    await renderer.render(STREAM, T0 + 2100);
    files = await stored();
    expect(representations(files[manifestName.mpd]!, T0 + 2100)).toEqual(ALL);
    expect(listed(files[manifestName.master]!)).toEqual(ALL_PLAYLISTS);
  });

  it('an ended stream publishes the renditions it has', async () => {
    const { store, feed, renderer, stored } = await setup();
    await feed.audio!.init();
    await feed.audio!.segment(0);
    await store.streams.mark(STREAM, settings, 'ended', T0 + 3000);
    await renderer.render(STREAM, T0 + 3000);
    expect(listed((await stored())[manifestName.master]!)).toEqual(['audio/index.m3u8']);
  });

  it('streamFileReady: every expected rendition described, with a part (a segment for the classic MPD)', () => {
    const [v, a] = [ladder[0]!, ladder[2]!];
    const snap = (segments: number, openParts: number): TimelineSnapshot =>
      ({
        segments: Array.from({ length: segments }, () => ({ parts: [] })),
        open: openParts >= 0 ? { parts: Array.from({ length: openParts }, () => ({})) } : undefined,
      }) as unknown as TimelineSnapshot;
    const ready = (
      renditions: RenditionDescription[],
      vs: TimelineSnapshot,
      as: TimelineSnapshot,
      name: string,
      expected = true,
    ) =>
      streamFileReady(
        {
          renditions,
          live: new Map([
            [v.name, vs],
            [a.name, as],
          ]),
          expectedRenditions: expected ? [v.name, a.name] : undefined,
        },
        name,
      );
    const { master, mpd, mpdLowLatency: ll } = manifestName;
    for (const name of [master, mpd, ll]) {
      expect(ready([a], snap(0, 1), snap(1, 1), name), `${name}: video not described`).toBe(false);
      expect(ready([v, a], snap(0, 0), snap(1, 1), name), `${name}: open without parts`).toBe(false);
      expect(ready([v, a], snap(0, -1), snap(1, 1), name), `${name}: no media`).toBe(false);
      expect(ready([v, a], snap(1, -1), snap(2, 3), name), name).toBe(true);
      expect(ready([a], snap(0, 0), snap(0, 0), name, false), `${name}: no expectation`).toBe(true);
    }
    expect(ready([v, a], snap(0, 1), snap(1, 0), master)).toBe(true);
    expect(ready([v, a], snap(0, 1), snap(1, 0), ll)).toBe(true);
    expect(ready([v, a], snap(0, 1), snap(1, 0), mpd)).toBe(false);
    expect(ready([v, a], snap(0, -1), snap(0, -1), manifestName.media(v.name))).toBe(true);
  });
});
