/** CMAF ingest's pure parts: publishing point paths, the publish key, duplicate detection, the lmsg brand. */
import { describe, expect, it } from 'vitest';
import type { ChunkInfo, InitInfo } from '../../src/core/index.js';
import { parseIngestPath, publishKey } from '../../src/ingest/sources/cmaf/paths.js';
import { hasLmsg, TrackMerger } from '../../src/ingest/sources/cmaf/track.js';

describe('ingest paths', () => {
  it('takes {stream}/{track}, the Streams(track) form and an optional segment name; the extension is dropped', () => {
    expect(parseIngestPath('/ingest/cam/video.cmfv?key=x', '/ingest/')).toEqual({
      ok: true,
      stream: 'cam',
      track: 'video',
    });
    expect(parseIngestPath('/ingest/cam/Streams(audio.cmfa)', '/ingest/')).toMatchObject({ track: 'audio' });
    expect(parseIngestPath('/ingest/cam/video/seg-12.m4s', '/ingest/')).toMatchObject({ track: 'video' });
  });

  it('refuses traversal (plain and encoded) with 403 and bad names or shapes with 400', () => {
    for (const p of ['/ingest/../x/video', '/ingest/cam/%2e%2e/v', '/ingest/cam/a%2fb', '/ingest/cam/a%5cb'])
      expect(parseIngestPath(p, '/ingest/')).toMatchObject({ ok: false, status: 403 });
    for (const p of [
      '/ingest/cam',
      '/ingest/cam/',
      '/ingest/c!m/video',
      '/ingest/cam/v%21',
      '/ingest/a/b/c/d',
    ])
      expect(parseIngestPath(p, '/ingest/')).toMatchObject({ ok: false, status: 400 });
    expect(parseIngestPath('/ingest/cam/%zz', '/ingest/')).toMatchObject({ ok: false, status: 400 });
  });

  it('reads the key from ?key= first, then a Bearer header', () => {
    expect(publishKey('/ingest/a/b?key=k1', 'Bearer k2')).toBe('k1');
    expect(publishKey('/ingest/a/b', 'Bearer k2')).toBe('k2');
    expect(publishKey('/ingest/a/b', 'Basic xyz')).toBe('');
  });
});

const init = { info: { timescale: 1000 } as InitInfo };
const chunk = (tfdt: number, dur = 200): ChunkInfo => ({
  trackId: 1,
  sequenceNumber: 0,
  baseMediaDecodeTime: tfdt,
  sampleCount: 1,
  durationTicks: dur,
  startsWithSync: true,
  byteLength: 100,
});

describe('TrackMerger', () => {
  it('keeps the first copy of each media time and counts later copies as aligned duplicates', () => {
    const t = new TrackMerger('video', 'video');
    const feed = (sender: number, tfdt: number, now: number) => {
      const d = t.decide(sender, init, chunk(tfdt), now);
      if (d !== 'duplicate') t.accepted(sender, chunk(tfdt), now);
      return d;
    };
    expect(feed(1, 0, 0)).toBe('next');
    expect(feed(2, 0, 10)).toBe('duplicate');
    expect(feed(1, 200, 200)).toBe('next');
    expect(feed(2, 200, 210)).toBe('duplicate');
    // Sender 1 gone: sender 2 continues where the track is.
    expect(feed(2, 400, 410)).toBe('next');
    expect(feed(2, 600, 610)).toBe('next');
    expect(t.duplicates).toBe(2);
    expect(t.misaligned).toBe(0);
    // A copy that does not start where a kept fragment did is misaligned.
    expect(feed(3, 650, 620)).toBe('duplicate');
    expect(t.misaligned).toBe(1);
  });

  it('takes a time jump: the last sender going back, a far-behind sender whose peers are silent, a forward gap', () => {
    const t = new TrackMerger('video', 'video');
    t.accepted(1, chunk(10_000), 0);
    expect(t.decide(1, init, chunk(0), 100)).toBe('jump');
    // Another sender 10 s behind while sender 1 is still supplying: a laggard's duplicate.
    expect(t.decide(2, init, chunk(0), 100)).toBe('duplicate');
    // ... and with sender 1 silent for more than 2 s: a restarted encoder.
    expect(t.decide(2, init, chunk(0), 2500)).toBe('jump');
    // Forward: within a chunk or half a second is contiguous, beyond is a jump.
    expect(t.decide(1, init, chunk(10_600), 100)).toBe('next');
    expect(t.decide(1, init, chunk(11_000), 100)).toBe('jump');
  });
});

describe('lmsg', () => {
  const box = (type: string, payload: number[]) => {
    const b = Buffer.alloc(8 + payload.length);
    b.writeUInt32BE(b.length, 0);
    b.write(type, 4, 'latin1');
    Buffer.from(payload).copy(b, 8);
    return b;
  };
  const brands = (...bs: string[]) => [...Buffer.from(bs.join(''), 'latin1')];
  it('finds the lmsg brand in the styp before the moof, and nowhere else', () => {
    const moof = box('moof', [0, 0, 0, 0]);
    const styp = (major: string, ...compat: string[]) => box('styp', brands(major, '\0\0\0\0', ...compat));
    expect(hasLmsg(Buffer.concat([styp('msdh', 'msdh', 'lmsg'), moof]))).toBe(true);
    expect(hasLmsg(Buffer.concat([styp('lmsg'), moof]))).toBe(true);
    expect(hasLmsg(Buffer.concat([styp('msdh', 'msdh', 'cmfs'), moof]))).toBe(false);
    expect(hasLmsg(moof)).toBe(false);
    expect(hasLmsg(Buffer.concat([moof, styp('msdh', 'lmsg')]))).toBe(false);
  });
});
