import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BoxParseError,
  CmafStreamReader,
  type ReaderEvent,
  parseChunk,
  parseInit,
} from '../../src/core/index.js';
import { box, bytes, chunk, fullBox, u32, u64 } from '../support/boxes.js';
import { readFixture } from '../support/fixtures.js';

const NON_SYNC = 0x00010000;
const defaults = { sampleDurationTicks: 0, sampleSize: 0, sampleFlags: 0 };

function readAll(data: Uint8Array, pieceSizes?: (i: number) => number): ReaderEvent[] {
  const r = new CmafStreamReader();
  const events: ReaderEvent[] = [];
  if (!pieceSizes) events.push(...r.push(data));
  else {
    let p = 0;
    for (let i = 0; p < data.length; i++) {
      const n = Math.max(1, pieceSizes(i));
      events.push(...r.push(data.subarray(p, p + n)));
      p += n;
    }
  }
  r.end();
  return events;
}

function expectParseError(fn: () => unknown, reason: string, boxType?: string): BoxParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BoxParseError);
    const e = err as BoxParseError;
    expect(e.reason).toBe(reason);
    if (boxType) expect(e.boxType).toBe(boxType);
    expect(e.message).toMatch(/box at byte \d+/);
    return e;
  }
  throw new Error('expected a BoxParseError');
}

describe('CMAF fixtures made by ffmpeg', () => {
  it('reads the H.264 init segment and ten 200 ms chunks with a keyframe every second', () => {
    const data = readFixture('h264.mp4');
    const events = readAll(data);
    const [init, ...chunks] = events;
    if (init?.kind !== 'init') throw new Error('init expected first');
    expect(init.info).toMatchObject({
      kind: 'video',
      timescale: 15360,
      width: 160,
      height: 90,
      codec: 'avc1.64000b',
      trackId: 1,
    });
    expect(chunks).toHaveLength(10);
    let expected = 0;
    chunks.forEach((c, i) => {
      if (c.kind !== 'chunk') throw new Error('chunk expected');
      expect(c.info.baseMediaDecodeTime).toBe(expected);
      expect(c.info.durationTicks).toBe(3072);
      expect(c.info.sampleCount).toBe(6);
      expect(c.info.startsWithSync).toBe(i % 5 === 0);
      expected += c.info.durationTicks;
    });
    // Every byte of the file belongs to exactly one emitted object, except the trailing mfra index.
    const emitted = events.reduce((n, e) => n + e.bytes.length, 0);
    expect(Buffer.from(data.subarray(emitted + 4, emitted + 8)).toString('latin1')).toBe('mfra');
    expect(new DataView(data.buffer, data.byteOffset).getUint32(emitted)).toBe(data.length - emitted);
  });

  it('reads AAC-LC, HEVC and Opus sample entries into RFC 6381 codec strings', () => {
    const aac = readAll(readFixture('aac.mp4'))[0]!;
    expect(aac.kind === 'init' && aac.info).toMatchObject({
      kind: 'audio',
      codec: 'mp4a.40.2',
      sampleRate: 48000,
      channelCount: 2,
      timescale: 48000,
    });
    const hevc = readAll(readFixture('hevc.mp4'))[0]!;
    expect(hevc.kind === 'init' && hevc.info.codec).toMatch(/^hvc1\.1\.6\.L\d+(\.[0-9a-f]+)*$/);
    const opus = readAll(readFixture('opus.mp4'))[0]!;
    expect(opus.kind === 'init' && opus.info.codec).toBe('opus');
  });

  it('gives the same objects whether the stream arrives whole, byte by byte, or split at any boundary', () => {
    const data = readFixture('h264.mp4');
    const whole = readAll(data).map((e) => Buffer.from(e.bytes).toString('base64'));
    expect(readAll(data, () => 1).map((e) => Buffer.from(e.bytes).toString('base64'))).toEqual(whole);
    for (let split = 1; split < data.length; split++) {
      const r = new CmafStreamReader();
      const evs = [...r.push(data.subarray(0, split)), ...r.push(data.subarray(split))];
      r.end();
      if (evs.length !== whole.length) throw new Error(`split at ${split}: ${evs.length} objects`);
    }
  });

  it('emits a chunk exactly when its last byte arrives, not before', () => {
    const data = readFixture('aac.mp4');
    const whole = readAll(data);
    const firstChunkEnd = whole[0]!.bytes.length + whole[1]!.bytes.length;
    const r = new CmafStreamReader();
    const before = r.push(data.subarray(0, firstChunkEnd - 1));
    expect(before.map((e) => e.kind)).toEqual(['init']);
    const after = r.push(data.subarray(firstChunkEnd - 1, firstChunkEnd));
    expect(after.map((e) => e.kind)).toEqual(['chunk']);
    expect(r.bufferedBytes).toBe(0);
  });

  it('random-sized reads of every fixture give identical chunk descriptions', () => {
    for (const name of ['h264.mp4', 'aac.mp4', 'hevc.mp4', 'opus.mp4']) {
      const data = readFixture(name);
      const whole = readAll(data).map((e) => e.info);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }), (sizes) => {
          expect(readAll(data, (i) => sizes[i % sizes.length]!).map((e) => e.info)).toEqual(whole);
        }),
        { numRuns: 30 },
      );
    }
  });
});

describe('fragment boxes', () => {
  it('reads a 64-bit tfdt (version 1) and a 32-bit one (version 0)', () => {
    expect(
      parseChunk(chunk({ decodeTime: 2n ** 40n, durations: [10, 20] }), defaults).baseMediaDecodeTime,
    ).toBe(2 ** 40);
    expect(
      parseChunk(chunk({ decodeTime: 4000000000, tfdtVersion: 0, durations: [10] }), defaults)
        .baseMediaDecodeTime,
    ).toBe(4000000000);
  });

  it('sums trun durations, else tfhd defaults, else trex defaults', () => {
    expect(parseChunk(chunk({ decodeTime: 0, durations: [1, 2, 3] }), defaults).durationTicks).toBe(6);
    expect(
      parseChunk(
        chunk({ decodeTime: 0, durations: [0, 0], omitDurations: true, tfhdDefaultDuration: 512 }),
        defaults,
      ).durationTicks,
    ).toBe(1024);
    const trex = { sampleDurationTicks: 1000, sampleSize: 0, sampleFlags: 0 };
    expect(
      parseChunk(chunk({ decodeTime: 0, durations: [0, 0, 0], omitDurations: true }), trex).durationTicks,
    ).toBe(3000);
  });

  it('takes the sync flag from first-sample-flags, then per-sample flags, then tfhd and trex defaults', () => {
    const c = (o: Partial<Parameters<typeof chunk>[0]>) =>
      parseChunk(chunk({ decodeTime: 0, durations: [1, 1], ...o }), defaults).startsWithSync;
    expect(c({ firstSampleFlags: 0, tfhdDefaultFlags: NON_SYNC })).toBe(true);
    expect(c({ firstSampleFlags: NON_SYNC })).toBe(false);
    expect(c({ sampleFlags: [NON_SYNC, 0] })).toBe(false);
    expect(c({ sampleFlags: [0, NON_SYNC] })).toBe(true);
    expect(c({ tfhdDefaultFlags: NON_SYNC })).toBe(false);
    expect(
      parseChunk(chunk({ decodeTime: 0, durations: [1] }), { ...defaults, sampleFlags: NON_SYNC })
        .startsWithSync,
    ).toBe(false);
  });

  it('rejects a decode time beyond 2^53 instead of losing precision', () => {
    expectParseError(
      () => parseChunk(chunk({ decodeTime: 2n ** 60n, durations: [1] }), defaults),
      'largesize-overflow',
      'tfdt',
    );
  });

  it('rejects an unknown mandatory version', () => {
    const c = chunk({ decodeTime: 0, durations: [1] });
    // Rewrite the tfdt version byte to 2.
    const i = Buffer.from(c).indexOf('tfdt');
    c[i + 4] = 2;
    expectParseError(() => parseChunk(c, defaults), 'unsupported-version', 'tfdt');
  });

  it('rejects a trun whose sample_count runs past its box', () => {
    const c = chunk({ decodeTime: 0, durations: [1, 1] });
    const i = Buffer.from(c).indexOf('trun');
    c.set(u32(1_000_000), i + 8);
    expectParseError(() => parseChunk(c, defaults), 'truncated', 'trun');
  });
});

describe('malformed streams', () => {
  const ftyp = box(
    'ftyp',
    [...'iso6'].map((c) => c.charCodeAt(0)),
    u32(0),
  );

  it('rejects a box whose size is smaller than its header', () => {
    expectParseError(
      () =>
        new CmafStreamReader().push(
          bytes(
            u32(4),
            [...'moov'].map((c) => c.charCodeAt(0)),
          ),
        ),
      'size-too-small',
      'moov',
    );
  });

  it('rejects size 0 (to end of file), which a live stream cannot honour', () => {
    expectParseError(
      () =>
        new CmafStreamReader().push(
          bytes(
            u32(0),
            [...'mdat'].map((c) => c.charCodeAt(0)),
          ),
        ),
      'size-too-large',
      'mdat',
    );
  });

  it('rejects a huge largesize without buffering for it', () => {
    const r = new CmafStreamReader({ maxBoxBytes: 1 << 20 });
    const hdr = bytes(
      u32(1),
      [...'mdat'].map((c) => c.charCodeAt(0)),
      u64(2n ** 40n),
    );
    expectParseError(() => r.push(hdr), 'size-too-large', 'mdat');
    expectParseError(
      () =>
        new CmafStreamReader().push(
          bytes(
            u32(1),
            [...'mdat'].map((c) => c.charCodeAt(0)),
            u64(2n ** 63n),
          ),
        ),
      'largesize-overflow',
      'mdat',
    );
    // A failed reader stays failed.
    expectParseError(() => r.push(new Uint8Array(10)), 'size-too-large');
  });

  it('rejects a child box that runs past the end of its parent, naming the child and its offset', () => {
    const bad = box(
      'moov',
      u32(100),
      [...'trak'].map((c) => c.charCodeAt(0)),
    );
    const e = expectParseError(() => new CmafStreamReader().push(bytes(ftyp, bad)), 'size-past-end', 'trak');
    expect(e.offset).toBe(ftyp.length + 8);
  });

  it('reports a stream that ends inside a box as truncated', () => {
    const r = new CmafStreamReader();
    r.push(bytes(ftyp).subarray(0, 10));
    expectParseError(() => r.end(), 'truncated');
  });

  it('rejects media before the init segment, and an mdat without a moof', () => {
    expectParseError(
      () => new CmafStreamReader().push(chunk({ decodeTime: 0, durations: [1] })),
      'unexpected-box',
      'moof',
    );
    const init = readFixture('h264.mp4').subarray(0, 796);
    const r = new CmafStreamReader();
    r.push(init);
    expectParseError(() => r.push(box('mdat', [1, 2, 3])), 'unexpected-box', 'mdat');
  });

  it('throws only BoxParseError for random bytes, and never buffers past the box limit', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4096 }),
        fc.integer({ min: 1, max: 64 }),
        (data, piece) => {
          const r = new CmafStreamReader({ maxBoxBytes: 1 << 16 });
          try {
            for (let p = 0; p < data.length; p += piece) r.push(data.subarray(p, p + piece));
            r.end();
          } catch (err) {
            if (!(err instanceof BoxParseError)) throw err;
          }
          expect(r.bufferedBytes).toBeLessThanOrEqual(data.length);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('throws only BoxParseError for a real stream with random bytes corrupted', () => {
    const data = readFixture('h264.mp4');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(data.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const copy = data.slice();
          for (const [i, v] of edits) copy[i] = v;
          try {
            readAll(copy);
          } catch (err) {
            if (!(err instanceof BoxParseError)) throw err;
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('parses an init segment with tkhd and mdhd version 1', () => {
    const info = parseInit(readFixture('aac.mp4').subarray(0, 729));
    expect(info.kind).toBe('audio');
    // A moov without a media track is named in the error.
    expectParseError(
      () => parseInit(bytes(ftyp, box('moov', fullBox('mvhd', 0, 0, new Uint8Array(96))))),
      'missing-box',
      'moov',
    );
  });
});
