/**
 * Who renders dvr.m3u8 (issue #11, decision 014): dvrPlaylistRenderer(config) decides for both roles, as
 * workers/compose.ts wires them. With a cold tier the reader (given the SegmentArchive) renders it on request and
 * the manifest worker neither reads the DVR timeline nor stores the playlist; without one the worker stores it
 * and the reader (no archive) serves that copy. Either way the playlist a viewer gets lists the stream's
 * segments. ManifestRenderer and the reader over the memory store.
 */
import * as HLS from 'hls-parser';
import { Parser } from 'm3u8-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { dvrPlaylistRenderer, parseConfig } from '../../src/config.js';
import { type RenditionDescription, manifestName, retention } from '../../src/core/index.js';
import { ManifestRenderer } from '../../src/manifest/renderer.js';
import { ForwardingMediaStore } from '../../src/store/forwarding-media.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { MediaStore, StoredStreamSettings } from '../../src/store/ports.js';
import { type ServedReader, serveReader } from '../support/reader-server.js';
import { StoreFeed } from '../support/scenario.js';

const T0 = 1_763_755_200_000;
const STREAM = 'dvrsrc';
const VIDEO: RenditionDescription = {
  name: '360p',
  kind: 'video',
  codec: 'avc1.64001e',
  timescale: 90_000,
  width: 640,
  height: 360,
  frameRate: 30,
  nominalBitrate: 700_000,
  segmentTargetTicks: 180_000,
  partTargetTicks: 45_000,
  order: 0,
};
const settings: StoredStreamSettings = { segmentSec: 2, partSec: 0.5, windowSec: 12, dvrWindowSec: 60 };

const served: ServedReader[] = [];
afterEach(async () => {
  for (const r of served.splice(0)) await r.close();
});

/** Counts the DVR timeline reads (loadTimelines of more than the live window's segments). */
class CountingMedia extends ForwardingMediaStore {
  dvrReads = 0;
  constructor(
    hot: MediaStore,
    private readonly liveLoaded: number,
  ) {
    super(hot);
  }
  override loadTimelines(...args: Parameters<MediaStore['loadTimelines']>) {
    if (args[2] > this.liveLoaded) this.dvrReads++;
    return super.loadTimelines(...args);
  }
}

async function node(coldType: 'none' | 'disk') {
  const config = parseConfig(
    coldType === 'none' ? {} : { cold: { type: 'disk', dir: '/nonexistent-unused' } },
  );
  const who = dvrPlaylistRenderer(config);
  const store = new MemoryStore();
  await store.streams.mark(STREAM, settings, 'live', T0);
  const feed = new StoreFeed(store.media, STREAM, VIDEO, {
    settings,
    wallClockStartMs: T0,
    partsPerSegment: 4,
  });
  const counted = new CountingMedia(store.media, retention(settings).liveSegmentsLoaded);
  const renderer = new ManifestRenderer(
    { media: counted, manifests: store.manifests, streams: store.streams, events: store.events },
    {
      utcTimingUrl: '/time',
      targetLatencyMs: 1500,
      manifestTtlSec: 3600,
      dvrPlaylists: who === 'manifest',
    },
  );
  const reader = await serveReader(store, { archive: who === 'reader' });
  served.push(reader);
  const base = reader.base;
  await feed.init();
  for (let msn = 0; msn < 8; msn++) {
    await feed.segment(msn);
    await renderer.render(STREAM, T0 + (msn + 1) * 2000 + 100);
  }
  const storedDvr = await store.manifests.read(STREAM, manifestName.dvr(VIDEO.name));
  const res = await fetch(`${base}/live/${STREAM}/${VIDEO.name}/dvr.m3u8`);
  const text = await res.text();
  const p = new Parser();
  p.push(text);
  p.end();
  return { who, storedDvr, dvrReads: counted.dvrReads, status: res.status, text, manifest: p.manifest };
}

/** hls-parser in strict mode, as the interop e2e reads the DVR playlist a composed node serves. */
function strictMediaPlaylist(text: string): boolean {
  HLS.setOptions({ strictMode: true, silent: true });
  try {
    return HLS.parse(text) instanceof HLS.types.MediaPlaylist;
  } finally {
    HLS.setOptions({ strictMode: false });
  }
}

describe('dvr.m3u8: rendered by the manifest worker or by the reader, never both, never neither', () => {
  it('without a cold tier: the worker stores it, the reader serves the stored copy', async () => {
    const n = await node('none');
    expect(n.who).toBe('manifest');
    expect(n.storedDvr?.body).toContain('#EXTINF');
    expect(n.dvrReads).toBeGreaterThan(0);
    expect(n.status).toBe(200);
    expect(strictMediaPlaylist(n.text)).toBe(true);
    expect(n.manifest.mediaSequence).toBe(0);
    expect(n.manifest.segments.map((s: { uri: string }) => s.uri)).toEqual(
      Array.from({ length: 8 }, (_, i) => `seg-${i}.m4s`),
    );
  });

  it('with a cold tier: the worker neither reads the DVR timeline nor stores the playlist; the reader renders it', async () => {
    const n = await node('disk');
    expect(n.who).toBe('reader');
    expect(n.storedDvr).toBeUndefined();
    expect(n.dvrReads).toBe(0);
    expect(n.status).toBe(200);
    expect(strictMediaPlaylist(n.text)).toBe(true);
    expect(n.manifest.mediaSequence).toBe(0);
    expect(n.manifest.segments.map((s: { uri: string }) => s.uri)).toEqual(
      Array.from({ length: 8 }, (_, i) => `seg-${i}.m4s`),
    );
  });
});
