import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Amf0Value, decodeAmf0, encodeAmf0 } from '../../src/rtmp/amf0.js';
import { ChunkReader, ChunkWriter, MSG, type RtmpMessage } from '../../src/rtmp/chunk.js';
import { RtmpProtocolError } from '../../src/rtmp/errors.js';
import { flvHeader, flvTag, isVideoKeyframe, isVideoSequenceHeader } from '../../src/rtmp/flv.js';
import { RtmpSession, type SessionAction } from '../../src/rtmp/session.js';

const limits = { maxChunkSize: 65536, maxMessageBytes: 1 << 20, maxChunkStreams: 16 };

function header(
  fmt: number,
  csid: number,
  fields: { ts?: number; len?: number; type?: number; sid?: number },
): number[] {
  const out = [(fmt << 6) | csid];
  const ext = (fields.ts ?? 0) >= 0xffffff;
  const ts = ext ? 0xffffff : (fields.ts ?? 0);
  if (fmt <= 2) out.push((ts >> 16) & 255, (ts >> 8) & 255, ts & 255);
  if (fmt <= 1)
    out.push(
      ((fields.len ?? 0) >> 16) & 255,
      ((fields.len ?? 0) >> 8) & 255,
      (fields.len ?? 0) & 255,
      fields.type ?? 8,
    );
  if (fmt === 0) out.push((fields.sid ?? 0) & 255, 0, 0, 0);
  if (ext)
    out.push((fields.ts! >>> 24) & 255, (fields.ts! >> 16) & 255, (fields.ts! >> 8) & 255, fields.ts! & 255);
  return out;
}

describe('AMF0', () => {
  it('round-trips the values RTMP commands carry', () => {
    const values: Amf0Value[] = [
      'connect',
      1,
      { app: 'live', tcUrl: 'rtmp://h/live', nested: { a: [1, 'x', null] } },
      null,
      undefined,
      true,
      new Date(1700000000000),
    ];
    expect(decodeAmf0(encodeAmf0(...values))).toEqual(values);
  });

  it('round-trips arbitrary JSON-like values (property)', () => {
    const leaf = fc.oneof(fc.double({ noNaN: true }), fc.boolean(), fc.string(), fc.constant(null));
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(
          fc.string({ minLength: 1 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k)),
          tie('v'),
          { maxKeys: 4 },
        ),
      ),
    })).v;
    fc.assert(
      fc.property(fc.array(value, { maxLength: 5 }), (vs) => {
        expect(decodeAmf0(encodeAmf0(...(vs as Amf0Value[])))).toEqual(vs);
      }),
    );
  });

  it('rejects truncated values, unknown markers and lying array counts with RtmpProtocolError', () => {
    expect(() => decodeAmf0(Uint8Array.from([0x02, 0x00, 0x10, 0x41]))).toThrow(RtmpProtocolError);
    expect(() => decodeAmf0(Uint8Array.from([0x11]))).toThrow(/marker 0x11/);
    expect(() => decodeAmf0(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff]))).toThrow(/strict array/);
  });

  it('never throws anything but RtmpProtocolError on random bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeAmf0(b);
        } catch (err) {
          if (!(err instanceof RtmpProtocolError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('RTMP chunk stream', () => {
  it('reads all four chunk header types and applies deltas', () => {
    const r = new ChunkReader(limits);
    const bytes = [
      ...header(0, 4, { ts: 1000, len: 3, type: 8, sid: 1 }),
      1,
      2,
      3,
      ...header(1, 4, { ts: 20, len: 2, type: 9 }),
      4,
      5,
      ...header(2, 4, { ts: 33 }),
      6,
      7,
      ...header(3, 4, {}),
      8,
      9,
    ];
    const msgs = r.push(Uint8Array.from(bytes));
    expect(msgs.map((m) => [m.typeId, m.streamId, m.timestamp, [...m.payload]])).toEqual([
      [8, 1, 1000, [1, 2, 3]],
      [9, 1, 1020, [4, 5]],
      [9, 1, 1053, [6, 7]],
      [9, 1, 1086, [8, 9]],
    ]);
  });

  it('reads extended timestamps, also on type 3 continuation chunks', () => {
    const r = new ChunkReader(limits);
    const ts = 0x01000000 + 5;
    const payload = Array.from({ length: 200 }, (_, i) => i & 255);
    const bytes = [
      ...header(0, 5, { ts, len: 200, type: 9, sid: 1 }),
      ...payload.slice(0, 128),
      0xc5,
      0x01,
      0x00,
      0x00,
      0x05,
      ...payload.slice(128),
    ];
    const [m] = r.push(Uint8Array.from(bytes));
    expect(m!.timestamp).toBe(ts);
    expect([...m!.payload]).toEqual(payload);
  });

  it('applies a chunk size change to the very next chunk', () => {
    const r = new ChunkReader(limits);
    const big = Array.from({ length: 1000 }, (_, i) => i & 255);
    const bytes = [
      ...header(0, 2, { len: 4, type: MSG.SET_CHUNK_SIZE }),
      0,
      0,
      4,
      0,
      ...header(0, 6, { len: 1000, type: 8, sid: 1 }),
      ...big,
    ];
    const msgs = r.push(Uint8Array.from(bytes));
    expect(r.chunkSize).toBe(1024);
    expect(msgs[1]!.payload.length).toBe(1000);
  });

  it('gives the same messages when the bytes arrive split at every boundary', () => {
    const w = new ChunkWriter();
    w.chunkSize = 64;
    const msgs: RtmpMessage[] = [
      {
        csid: 4,
        typeId: 9,
        streamId: 1,
        timestamp: 0,
        payload: Uint8Array.from({ length: 300 }, (_, i) => i & 255),
      },
      {
        csid: 5,
        typeId: 8,
        streamId: 1,
        timestamp: 0x1000000,
        payload: Uint8Array.from({ length: 150 }, (_, i) => (i * 7) & 255),
      },
    ];
    const setSize = w.encode({
      csid: 2,
      typeId: MSG.SET_CHUNK_SIZE,
      streamId: 0,
      timestamp: 0,
      payload: Uint8Array.from([0, 0, 0, 64]),
    });
    const stream = Buffer.concat([setSize, ...msgs.map((m) => w.encode(m))]);
    for (let split = 0; split <= stream.length; split++) {
      const r = new ChunkReader(limits);
      const got = [...r.push(stream.subarray(0, split)), ...r.push(stream.subarray(split))].filter(
        (m) => m.typeId !== MSG.SET_CHUNK_SIZE,
      );
      expect(got.map((m) => [m.timestamp, Buffer.from(m.payload).toString('hex')])).toEqual(
        msgs.map((m) => [m.timestamp, Buffer.from(m.payload).toString('hex')]),
      );
    }
  });

  it('rejects an oversized chunk size, an oversized message and too many chunk streams', () => {
    expect(() =>
      new ChunkReader(limits).push(
        Uint8Array.from([...header(0, 2, { len: 4, type: 1 }), 0x7f, 0xff, 0xff, 0xff]),
      ),
    ).toThrow(/chunk size/);
    expect(() =>
      new ChunkReader(limits).push(Uint8Array.from(header(0, 4, { len: 0xffffff, type: 8 }))),
    ).toThrow(/exceeds/);
    const many = Array.from({ length: 20 }, (_, i) => [...header(0, 3 + i, { len: 1, type: 8 }), 0]).flat();
    expect(() => new ChunkReader(limits).push(Uint8Array.from(many))).toThrow(/chunk streams/);
    expect(() => new ChunkReader(limits).push(Uint8Array.from(header(1, 7, { len: 1 })))).toThrow(
      /starts with a type 1/,
    );
  });

  it('throws only RtmpProtocolError on random input, and buffers at most what it was given (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 100 }), (b, piece) => {
        const r = new ChunkReader(limits);
        try {
          for (let p = 0; p < b.length; p += piece) r.push(b.subarray(p, p + piece));
        } catch (err) {
          if (!(err instanceof RtmpProtocolError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('RTMP session', () => {
  const c0c1 = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 7)]);
  const c2 = Buffer.alloc(1536, 9);
  const w = new ChunkWriter();
  const cmd = (...v: Amf0Value[]): Buffer =>
    w.encode({ csid: 3, typeId: MSG.COMMAND_AMF0, streamId: 0, timestamp: 0, payload: encodeAmf0(...v) });
  const sent = (actions: SessionAction[]): RtmpMessage[] => {
    const r = new ChunkReader(limits);
    return actions.flatMap((a) => (a.type === 'send' ? r.push(a.bytes) : []));
  };

  it('answers the handshake with S0+S1+S2 echoing C1', () => {
    const s = new RtmpSession(limits);
    const [a] = s.push(c0c1);
    expect(a!.type).toBe('send');
    const bytes = (a as { bytes: Buffer }).bytes;
    expect(bytes.length).toBe(1 + 1536 * 2);
    expect(bytes[0]).toBe(3);
    expect(bytes.subarray(1537).equals(c0c1.subarray(1))).toBe(true);
  });

  it('walks connect, releaseStream, FCPublish, createStream and publish as OBS and ffmpeg do', () => {
    const s = new RtmpSession(limits);
    s.push(c0c1);
    s.push(c2);
    const connect = sent(s.push(cmd('connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' })));
    expect(connect.map((m) => m.typeId)).toEqual([
      MSG.WINDOW_ACK_SIZE,
      MSG.SET_PEER_BANDWIDTH,
      MSG.SET_CHUNK_SIZE,
      MSG.COMMAND_AMF0,
    ]);
    const result = decodeAmf0(connect[3]!.payload);
    expect(result[0]).toBe('_result');
    expect((result[3] as { code: string }).code).toBe('NetConnection.Connect.Success');
    expect(s.app).toBe('live');
    s.push(Buffer.concat([cmd('releaseStream', 2, null, 'key'), cmd('FCPublish', 3, null, 'key')]));
    const created = sent(s.push(cmd('createStream', 4, null)));
    expect(decodeAmf0(created[0]!.payload)).toEqual(['_result', 4, null, 1]);
    const actions = s.push(
      w.encode({
        csid: 8,
        typeId: MSG.COMMAND_AMF0,
        streamId: 1,
        timestamp: 0,
        payload: encodeAmf0('publish', 5, null, 'key?token=1', 'live'),
      }),
    );
    expect(actions).toEqual([{ type: 'publish', app: 'live', name: 'key', rawName: 'key?token=1' }]);
    const accepted = new ChunkReader(limits);
    const [, status] = accepted.push(s.acceptPublish('key'));
    expect((decodeAmf0(status!.payload)[3] as { code: string }).code).toBe('NetStream.Publish.Start');
    // Media flows after acceptance; @setDataFrame becomes onMetaData.
    const media = s.push(
      Buffer.concat([
        w.encode({
          csid: 6,
          typeId: MSG.DATA_AMF0,
          streamId: 1,
          timestamp: 0,
          payload: encodeAmf0('@setDataFrame', 'onMetaData', { width: 1280 }),
        }),
        w.encode({
          csid: 6,
          typeId: MSG.VIDEO,
          streamId: 1,
          timestamp: 40,
          payload: Uint8Array.from([0x17, 1, 0, 0, 0]),
        }),
      ]),
    );
    expect(media.map((a) => a.type === 'media' && a.kind)).toEqual(['data', 'video']);
    expect(decodeAmf0((media[0] as { payload: Uint8Array }).payload)).toEqual([
      'onMetaData',
      { width: 1280 },
    ]);
    expect(s.push(cmd('FCUnpublish', 6, null, 'key')).map((a) => a.type)).toEqual(['unpublish']);
  });

  it('sends an error status when a publish is refused', () => {
    const s = new RtmpSession(limits);
    const [status] = new ChunkReader(limits).push(s.rejectPublish('NetStream.Publish.BadName', 'taken'));
    const v = decodeAmf0(status!.payload);
    expect(v[0]).toBe('onStatus');
    expect(v[3]).toMatchObject({ level: 'error', code: 'NetStream.Publish.BadName' });
  });

  it('acknowledges received bytes once per the peer window and answers pings', () => {
    const s = new RtmpSession(limits);
    s.push(c0c1);
    s.push(c2);
    s.push(
      w.encode({
        csid: 2,
        typeId: MSG.WINDOW_ACK_SIZE,
        streamId: 0,
        timestamp: 0,
        payload: Uint8Array.from([0, 0, 1, 0]),
      }),
    );
    const ping = s.push(
      w.encode({
        csid: 2,
        typeId: MSG.USER_CONTROL,
        streamId: 0,
        timestamp: 0,
        payload: Uint8Array.from([0, 6, 0, 0, 0, 42]),
      }),
    );
    const got = sent(ping);
    expect(got.some((m) => m.typeId === MSG.USER_CONTROL && m.payload[1] === 7 && m.payload[5] === 42)).toBe(
      true,
    );
    const filler = s.push(
      w.encode({ csid: 2, typeId: MSG.ACK, streamId: 0, timestamp: 0, payload: new Uint8Array(300) }),
    );
    expect(sent(filler).some((m) => m.typeId === MSG.ACK)).toBe(true);
  });

  it('rejects a wrong handshake version', () => {
    expect(() => new RtmpSession(limits).push(Buffer.concat([Buffer.from([6]), Buffer.alloc(1536)]))).toThrow(
      /version 6/,
    );
  });
});

describe('FLV', () => {
  it('frames tags with the 32-bit timestamp split as FLV requires and a trailing PreviousTagSize', () => {
    const tag = flvTag(9, 0x12345678, Uint8Array.from([0x17, 0]));
    expect(tag[0]).toBe(9);
    expect(tag.readUIntBE(4, 3)).toBe(0x345678);
    expect(tag[7]).toBe(0x12);
    expect(tag.readUInt32BE(tag.length - 4)).toBe(13);
    expect(flvHeader().subarray(0, 3).toString()).toBe('FLV');
    expect(isVideoKeyframe(Uint8Array.from([0x17, 1]))).toBe(true);
    expect(isVideoSequenceHeader(Uint8Array.from([0x17, 0]))).toBe(true);
    expect(isVideoKeyframe(Uint8Array.from([0x27, 1]))).toBe(false);
  });
});
