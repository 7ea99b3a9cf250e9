/**
 * DVR and time-shift URLs through the reader in process (issue #11), over the memory store: an hour of segments,
 * the older ones only in the SegmentArchive (as after they left Redis), the newest in the live timeline, a
 * discontinuity in between. dvr.m3u8, start-over and catch-up playlists, the multivariant playlist with the query
 * and the MPDs are read back with m3u8-parser and mpd-parser: sequence numbers, durations and program
 * date-times exact. Bad ranges answer 400 with the window; an unknown stream 404.
 */
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DvrSegment, RenditionDescription, SegmentEntry } from '../../src/core/index.js';
import { cdnGate } from '../../src/auth/cdn/index.js';
import { playbackPolicy } from '../../src/auth/playback/index.js';
import { signPlayback } from '../../src/auth/playback/token.js';
import { createReaderAccess } from '../../src/reader/access.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { StoredStreamSettings } from '../../src/store/ports.js';
import { type ArchiveShape, archiveSegment } from '../support/fixtures.js';
import { waitFor } from '../support/harness.js';
import { type ServedReader, serveReader } from '../support/reader-server.js';

const S = 'cam';
const TS = 90_000;
const SEG = 180_000;
const COUNT = 1800; // one hour at 2 s
const DISC = 1000; // encoder reconnect: new init, new period 7.5 s later
const HOT = 20; // segments still in the live timeline
const T0 = Math.floor((Date.now() - COUNT * 2000 - 9000) / 1000) * 1000;

const settings: StoredStreamSettings = { segmentSec: 2, partSec: 0.5, windowSec: 30, dvrWindowSec: 3600 };
const describe_ = (name: string, kind: 'video' | 'audio', order: number): RenditionDescription => ({
  name,
  kind,
  codec: kind === 'video' ? 'avc1.64001e' : 'mp4a.40.2',
  timescale: TS,
  ...(kind === 'video'
    ? { width: 640, height: 360, frameRate: 30 }
    : { sampleRate: 48_000, channelCount: 2 }),
  nominalBitrate: kind === 'video' ? 700_000 : 128_000,
  segmentTargetTicks: SEG,
  partTargetTicks: 45_000,
  order,
});
const RENDITIONS = [describe_('360p', 'video', 0), describe_('audio', 'audio', 1)];

const ARCHIVE: ArchiveShape = {
  t0: T0,
  timescale: TS,
  segmentTicks: SEG,
  disc: DISC,
  gapMs: 7500,
  byteLength: (msn) => 1000 + msn,
};
const segment = (msn: number): SegmentEntry => ({ ...archiveSegment(msn, ARCHIVE), parts: [] });
const ALL = Array.from({ length: COUNT }, (_, i) => segment(i));
const iso = (ms: number): string => new Date(ms).toISOString();
/** The DVR window by wall clock: segments starting at most dvrWindowSec before the newest one's end. */
const inWindow = (list: DvrSegment[]): DvrSegment[] =>
  list.filter(
    (s) => s.wallClockMs >= list[list.length - 1]!.wallClockMs + 2000 - settings.dvrWindowSec * 1000,
  );

let store: MemoryStore;
let served: ServedReader;
let base: string;
let next = COUNT;

async function publish(msn: number): Promise<void> {
  for (const r of RENDITIONS)
    await store.media.publishSegment(S, r.name, segment(msn), Buffer.from(`seg-${msn}`), {
      segmentSec: 60,
      initSec: 60,
      keepSegments: HOT,
      keepPartsSegments: 2,
    });
}

beforeAll(async () => {
  store = new MemoryStore();
  await store.streams.mark(S, { ...settings, renditions: RENDITIONS.map((r) => r.name) }, 'live', Date.now());
  for (const r of RENDITIONS) {
    await store.media.publishInit(S, r, 0, Buffer.from('init0'), 3600);
    await store.media.publishInit(S, r, 1, Buffer.from('init1'), 3600);
  }
  // Archived: everything but the newest 5 (the archive lags the live edge); live: the newest HOT.
  for (const s of ALL.slice(0, COUNT - 5))
    for (const r of RENDITIONS) await store.archive.record(S, r.name, s);
  for (const s of ALL.slice(COUNT - HOT)) await publish(s.msn);
  served = await serveReader(store);
  base = served.base;
});

afterAll(async () => {
  await served.close();
  await store.close();
});

async function get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, text: await r.text(), headers: r.headers };
}

interface M3u8 {
  mediaSequence: number;
  discontinuitySequence: number;
  endList?: boolean;
  playlistType?: string;
  segments: Array<{
    uri: string;
    duration: number;
    programDateTime?: number;
    discontinuity?: boolean;
    map?: { uri: string };
  }>;
  playlists?: Array<{ uri: string }>;
  mediaGroups?: { AUDIO?: Record<string, Record<string, { uri: string }>> };
}
function m3u8(text: string): M3u8 {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as M3u8;
}

/** Every listed segment against the timeline: msn, URI, duration, init, discontinuity, and each PDT written. */
function expectSegments(m: M3u8, expected: DvrSegment[]): void {
  expect(m.mediaSequence).toBe(expected[0]!.msn);
  expect(m.discontinuitySequence).toBe(expected[0]!.discontinuitySeq);
  expect(m.segments.map((s) => s.uri)).toEqual(expected.map((s) => `seg-${s.msn}.m4s`));
  m.segments.forEach((s, i) => {
    const e = expected[i]!;
    expect(s.duration).toBe(2);
    expect(s.map?.uri).toBe(`init-${e.initId}.mp4`);
    expect(Boolean(s.discontinuity)).toBe(e.discontinuity);
    // m3u8-parser carries the last PDT forward by the durations: exact to the ms on every segment.
    expect(s.programDateTime).toBe(e.wallClockMs);
  });
}

describe('DVR playlists from the archive and the live timeline', () => {
  it('dvr.m3u8 lists the whole window, archive and live merged without duplicates', async () => {
    const r = await get(`/live/${S}/360p/dvr.m3u8`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    const m = m3u8(r.text);
    expect(m.endList).toBeUndefined();
    // The 3600 s window by wall clock: the discontinuity's 7.5 s jump leaves the first 4 segments out.
    expect(inWindow(ALL)[0]!.msn).toBe(4);
    expectSegments(m, inWindow(ALL));
    expect(r.text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
  });

  it('start-over: from the first segment at or after start to the live edge, growing (EVENT)', async () => {
    const start = ALL[1500]!.wallClockMs - 1;
    const r = await get(`/live/${S}/360p/index.m3u8?start=${iso(start)}`);
    expect(r.status).toBe(200);
    const m = m3u8(r.text);
    expect(m.playlistType).toBe('EVENT');
    expect(m.endList).toBeUndefined();
    expectSegments(m, ALL.slice(1500));
  });

  it('catch-up across the discontinuity: exactly the segments starting in [start, end), then ENDLIST', async () => {
    const start = ALL[990]!.wallClockMs;
    const end = ALL[1010]!.wallClockMs;
    const r = await get(`/live/${S}/audio/dvr.m3u8?start=${iso(start)}&end=${iso(end)}`);
    expect(r.status).toBe(200);
    const m = m3u8(r.text);
    expect(m.playlistType).toBe('VOD');
    expect(m.endList).toBe(true);
    expectSegments(m, ALL.slice(990, 1010));
    expect(m.segments.reduce((n, s) => n + s.duration, 0)).toBe(40);
  });

  it('a catch-up whose end has not passed grows without ENDLIST', async () => {
    const start = ALL[1700]!.wallClockMs;
    const r = await get(`/live/${S}/360p/index.m3u8?start=${iso(start)}&end=${iso(Date.now() + 600_000)}`);
    const m = m3u8(r.text);
    expect(m.endList).toBeUndefined();
    expect(m.playlistType).toBe('EVENT');
    expect(m.segments[0]!.uri).toBe('seg-1700.m4s');
  });

  it('the multivariant playlist carries the query into every variant and audio URI', async () => {
    const q = `start=${encodeURIComponent(iso(ALL[100]!.wallClockMs))}&end=${encodeURIComponent(iso(ALL[200]!.wallClockMs))}`;
    const r = await get(`/live/${S}/master.m3u8?${q}`);
    expect(r.status).toBe(200);
    const m = m3u8(r.text);
    const uris = [
      ...(m.playlists ?? []).map((p) => p.uri),
      ...Object.values(m.mediaGroups?.AUDIO ?? {}).flatMap((g) => Object.values(g).map((x) => x.uri)),
    ];
    expect(uris.sort()).toEqual([`360p/index.m3u8?${q}`, `audio/index.m3u8?${q}`]);
    // and the variant URL answers the same range
    const v = m3u8((await get(`/live/${S}/360p/index.m3u8?${q}`)).text);
    expectSegments(v, ALL.slice(100, 200));
  });

  it('dvr.mpd is dynamic with timeShiftBufferDepth = the window; a passed catch-up MPD is static and exact', async () => {
    const dvr = await get(`/live/${S}/dvr.mpd`);
    expect(dvr.status).toBe(200);
    expect(dvr.headers.get('content-type')).toBe('application/dash+xml');
    expect(dvr.text).toContain('type="dynamic"');
    expect(dvr.text).toContain('timeShiftBufferDepth="PT3600.000S"');
    expect(dvr.text.match(/<Period /g)).toHaveLength(2);

    const start = ALL[995]!.wallClockMs;
    const end = ALL[1005]!.wallClockMs;
    const r = await get(`/live/${S}/manifest.mpd?start=${iso(start)}&end=${iso(end)}`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('type="static"');
    const m = parseMpd(r.text, { manifestUri: `http://o/live/${S}/manifest.mpd` }) as {
      playlists: Array<{
        attributes: { NAME: string };
        segments: Array<{ number: number; duration: number; uri: string; presentationTime: number }>;
      }>;
    };
    const video = m.playlists.filter((p) => p.attributes.NAME === '360p').flatMap((p) => p.segments);
    for (const s of video) expect(s.duration).toBe(2);
    expect(video.map((s) => s.uri)).toEqual(ALL.slice(995, 1005).map((s) => `360p/seg-${s.msn}.m4s`));
  });

  it('answers 400 with the window for bad times and ranges outside it, 404 for an unknown stream', async () => {
    const window = `${iso(inWindow(ALL)[0]!.wallClockMs)}/${iso(ALL[COUNT - 1]!.wallClockMs + 2000)}`;
    const cases = [
      [`start=${iso(T0 - 60_000)}`, 'TIME_SHIFT_OUTSIDE_WINDOW'],
      [`start=${iso(Date.now() + 60_000)}`, 'TIME_SHIFT_OUTSIDE_WINDOW'],
      [`start=${iso(ALL[10]!.wallClockMs)}&end=${iso(ALL[5]!.wallClockMs)}`, 'TIME_SHIFT_INVALID'],
      ['start=yesterday', 'TIME_SHIFT_INVALID'],
      [`start=${iso(ALL[10]!.wallClockMs)}&start=${iso(ALL[11]!.wallClockMs)}`, 'TIME_SHIFT_INVALID'],
    ] as const;
    for (const [q, code] of cases) {
      for (const path of ['master.m3u8', '360p/index.m3u8', 'manifest.mpd']) {
        const r = await get(`/live/${S}/${path}?${q}`);
        expect(r.status, `${path}?${q}`).toBe(400);
        expect(r.text).toContain(code);
        expect(r.text).toContain(window);
      }
    }
    expect((await get(`/live/nobody/360p/dvr.m3u8`)).status).toBe(404);
    expect((await get(`/live/nobody/master.m3u8?start=${iso(ALL[10]!.wallClockMs)}`)).status).toBe(404);
    expect((await get(`/live/${S}/720p/dvr.m3u8`)).status).toBe(404);
  });

  it('a new segment appears in dvr.m3u8 and start-over views; the oldest leaves the window', async () => {
    await publish(next);
    for (const r of RENDITIONS) await store.archive.record(S, r.name, segment(next));
    await waitFor(
      async () => (await get(`/live/${S}/360p/dvr.m3u8`)).text.includes(`seg-${next}.m4s`),
      10_000,
    );
    const m = m3u8((await get(`/live/${S}/360p/dvr.m3u8`)).text);
    expectSegments(m, inWindow([...ALL, segment(next)]));
    next++;
  });
});

describe('time-shift URLs behind a playback token', () => {
  it('keep working under the /s/{token}/ prefix, and not without it', async () => {
    const KEY = { id: 'k1', secret: 'timeshift-test-key-0123456789' };
    const log = pino({ level: 'silent' });
    const signed = await serveReader(store, {
      extra: {
        access: createReaderAccess({
          cdn: cdnGate({ header: 'X-Wellspring-CDN-Secret', secrets: [] }),
          playback: playbackPolicy({ keys: [KEY], protect: [S], edgeCacheSec: 10 }),
          log,
        }),
      },
    });
    try {
      const at = signed.base;
      const token = signPlayback({ stream: S, expSec: Math.floor(Date.now() / 1000) + 600, key: KEY });
      const q = `start=${encodeURIComponent(iso(ALL[1600]!.wallClockMs))}`;
      const master = await fetch(`${at}/s/${token}/live/${S}/master.m3u8?${q}`);
      expect(master.status).toBe(200);
      const m = m3u8(await master.text());
      const variant = m.playlists![0]!.uri;
      expect(variant).toBe(`360p/index.m3u8?${q}`);
      // The relative variant URI resolves under the token prefix, with the query.
      const v = await fetch(new URL(variant, `${at}/s/${token}/live/${S}/master.m3u8`));
      expect(v.status).toBe(200);
      expect(m3u8(await v.text()).segments[0]!.uri).toBe('seg-1600.m4s');
      expect((await fetch(`${at}/live/${S}/master.m3u8?${q}`)).status).toBe(403);
    } finally {
      await signed.close();
    }
  });
});
