/**
 * The reader's manifest reads (src/reader/playlists.ts ManifestReads) over the memory store: reads of the same
 * render share one object (its prepared answer is reused), and with manifestCacheMs a plain request is answered
 * from the render read last until the stream's next manifest event or the age limit, never across an event.
 */
import { describe, expect, it } from 'vitest';
import { ManifestReads } from '../../src/reader/playlists.js';
import { MemoryStore } from '../../src/store/memory/index.js';

const NAME = '360p/index.m3u8';
const write = (version: number, renderedAt = 1000 + version) => ({
  name: NAME,
  version,
  body: `#EXTM3U\n# render ${version}\n`,
  msn: version,
  part: 0,
  targetSec: 2,
  renderedAt,
});
const until = async (f: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('ManifestReads', () => {
  it('returns the same object for the same render, a new one for a new render', async () => {
    const store = new MemoryStore();
    await store.manifests.store('s', [write(1)], 60);
    const reads = new ManifestReads(store.manifests);
    const a = await reads.read('s', NAME);
    const b = await reads.fresh('s', NAME);
    expect(b).toBe(a);
    await store.manifests.store('s', [write(2)], 60);
    const c = await reads.fresh('s', NAME);
    expect(c).not.toBe(a);
    expect(c!.version).toBe(2);
  });

  it('without manifestCacheMs every plain request reads the store', async () => {
    const store = new MemoryStore();
    await store.manifests.store('s', [write(1)], 60);
    const reads = new ManifestReads(store.manifests, { events: store.events, maxAgeMs: 0 });
    expect((await reads.current('s', NAME)).version).toBe(1);
    await store.manifests.store('s', [write(2)], 60);
    expect((await reads.current('s', NAME)).version).toBe(2);
    expect(reads.watched).toBe(0);
  });

  it('with manifestCacheMs answers from the render read last until the stream announces a new one', async () => {
    const store = new MemoryStore();
    await store.manifests.store('s', [write(1)], 60);
    const reads = new ManifestReads(store.manifests, { events: store.events, maxAgeMs: 60_000 });
    try {
      await reads.current('s', NAME); // subscribes; this read may predate the subscription: not kept
      await until(async () => (await reads.current('s', NAME)) === (await reads.current('s', NAME)));
      // Stored without an announcement (only the manifest worker's event makes it current): still the old one.
      await store.manifests.store('s', [write(2)], 60);
      expect((await reads.current('s', NAME)).version).toBe(1);
      // Another stream's event changes nothing here.
      await store.events.publish({ t: 'manifest', s: 'other', v: 9, pos: {} });
      expect((await reads.current('s', NAME)).version).toBe(1);
      await store.events.publish({ t: 'manifest', s: 's', v: 2, pos: { '360p': { msn: 2, part: 0 } } });
      await until(async () => (await reads.current('s', NAME)).version === 2);
      expect((await reads.current('s', NAME)).version).toBe(2);
      expect(reads.watched).toBe(1);
    } finally {
      reads.close();
    }
    expect(reads.watched).toBe(0);
  });

  it('never keeps longer than manifestCacheMs, even without an event', async () => {
    const store = new MemoryStore();
    await store.manifests.store('s', [write(1)], 60);
    const reads = new ManifestReads(store.manifests, { events: store.events, maxAgeMs: 50 });
    try {
      await until(async () => (await reads.current('s', NAME)) === (await reads.current('s', NAME)));
      await store.manifests.store('s', [write(2)], 60);
      await until(async () => (await reads.current('s', NAME)).version === 2);
      expect((await reads.current('s', NAME)).version).toBe(2);
    } finally {
      reads.close();
    }
  });

  it('a missing manifest is a 404, cached or not', async () => {
    const store = new MemoryStore();
    const reads = new ManifestReads(store.manifests, { events: store.events, maxAgeMs: 1000 });
    await expect(reads.current('s', NAME)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    reads.close();
  });
});

describe('ManifestReads with a failing store', () => {
  it('a failed read is not shared with the requests after it', async () => {
    const store = new MemoryStore();
    await store.manifests.store('s', [write(1)], 60);
    let fail = true;
    const manifests = {
      read: (stream: string, name: string) =>
        fail ? Promise.reject(new Error('store down')) : store.manifests.read(stream, name),
      store: store.manifests.store.bind(store.manifests),
    };
    const reads = new ManifestReads(manifests, { events: store.events, maxAgeMs: 60_000 });
    try {
      await expect(reads.current('s', NAME)).rejects.toThrow('store down');
      fail = false;
      expect((await reads.current('s', NAME)).version).toBe(1);
    } finally {
      reads.close();
    }
  });
});
