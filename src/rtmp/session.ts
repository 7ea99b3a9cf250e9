/**
 * One RTMP connection as a pure state machine: handshake, chunk stream, the AMF0 command exchange publishers
 * (OBS, ffmpeg, hardware encoders) expect, acknowledgements and pings. Bytes in, actions out; the socket
 * adapter sends the bytes and decides on publish requests.
 */
import { type Amf0Value, decodeAmf0, encodeAmf0 } from './amf0.js';
import { type ChunkReaderLimits, ChunkReader, ChunkWriter, MSG, type RtmpMessage } from './chunk.js';
import { RtmpProtocolError } from './errors.js';

const HANDSHAKE_SIZE = 1536;
const RTMP_VERSION = 3;
/** Our window acknowledgement size and outgoing chunk size. */
const WINDOW_ACK_SIZE = 2_500_000;
const OUT_CHUNK_SIZE = 4096;
/** The message stream id given to the publisher by createStream. */
const PUBLISH_STREAM_ID = 1;

export type SessionAction =
  | { type: 'send'; bytes: Buffer }
  /** The client asked to publish `name` (query string removed) in `app`: call accept or reject. */
  | { type: 'publish'; app: string; name: string; rawName: string }
  | { type: 'media'; kind: 'audio' | 'video' | 'data'; timestamp: number; payload: Uint8Array }
  | { type: 'unpublish' }
  /** The session is over (protocol end or rejection already sent). */
  | { type: 'close'; reason: string };

type State = 'handshake-c0c1' | 'handshake-c2' | 'chunks' | 'closed';

export class RtmpSession {
  private state: State = 'handshake-c0c1';
  private pending: Buffer = Buffer.alloc(0);
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private peerWindow = 0;
  private lastAck = 0;
  app: string | undefined;
  publishing = false;
  private publishRequested = false;
  private unpublished = false;

  constructor(limits: ChunkReaderLimits) {
    this.reader = new ChunkReader(limits);
  }

  push(data: Uint8Array): SessionAction[] {
    if (this.state === 'closed') return [];
    const out: SessionAction[] = [];
    if (this.state !== 'chunks') {
      this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : Buffer.from(data);
      if (this.state === 'handshake-c0c1') {
        if (this.pending.length < 1 + HANDSHAKE_SIZE) return out;
        const version = this.pending[0]!;
        if (version !== RTMP_VERSION)
          throw new RtmpProtocolError(`handshake: unsupported RTMP version ${version} (only plain RTMP 3)`);
        const c1 = this.pending.subarray(1, 1 + HANDSHAKE_SIZE);
        // Simple handshake: S1 = our time and zeros, S2 = echo of C1 (what ffmpeg and librtmp verify).
        const s0s1s2 = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
        s0s1s2[0] = RTMP_VERSION;
        s0s1s2.set(c1, 1 + HANDSHAKE_SIZE);
        out.push({ type: 'send', bytes: s0s1s2 });
        this.pending = this.pending.subarray(1 + HANDSHAKE_SIZE);
        this.state = 'handshake-c2';
      }
      if (this.state === 'handshake-c2') {
        if (this.pending.length < HANDSHAKE_SIZE) return out;
        const rest = this.pending.subarray(HANDSHAKE_SIZE);
        this.pending = Buffer.alloc(0);
        this.state = 'chunks';
        if (rest.length) out.push(...this.onChunks(rest));
      }
      return out;
    }
    out.push(...this.onChunks(data));
    return out;
  }

  /** Accept the pending publish request: Stream Begin and NetStream.Publish.Start. */
  acceptPublish(name: string): Buffer {
    this.publishing = true;
    const streamBegin = Buffer.alloc(6);
    streamBegin.writeUInt16BE(0, 0);
    streamBegin.writeUInt32BE(PUBLISH_STREAM_ID, 2);
    return Buffer.concat([
      this.writer.encode({
        csid: 2,
        typeId: MSG.USER_CONTROL,
        streamId: 0,
        timestamp: 0,
        payload: streamBegin,
      }),
      this.status('status', 'NetStream.Publish.Start', `${name} is now published`),
    ]);
  }

  /** Refuse the pending publish request with an RTMP error status (e.g. NetStream.Publish.BadName). */
  rejectPublish(code: string, description: string): Buffer {
    this.state = 'closed';
    return this.status('error', code, description);
  }

  private status(level: string, code: string, description: string): Buffer {
    return this.command(PUBLISH_STREAM_ID, 'onStatus', 0, null, { level, code, description });
  }

  private command(streamId: number, ...values: Amf0Value[]): Buffer {
    return this.writer.encode({
      csid: streamId === 0 ? 3 : 5,
      typeId: MSG.COMMAND_AMF0,
      streamId,
      timestamp: 0,
      payload: encodeAmf0(...values),
    });
  }

  private control(typeId: number, payload: Buffer): Buffer {
    return this.writer.encode({ csid: 2, typeId, streamId: 0, timestamp: 0, payload });
  }

  private onChunks(data: Uint8Array): SessionAction[] {
    const out: SessionAction[] = [];
    for (const msg of this.reader.push(data)) {
      this.onMessage(msg, out);
      if (this.state === 'closed') break;
    }
    // Acknowledge received bytes once per peer window (RTMP spec 5.4.3).
    if (this.peerWindow > 0 && this.reader.bytesRead - this.lastAck >= this.peerWindow) {
      this.lastAck = this.reader.bytesRead;
      const b = Buffer.alloc(4);
      b.writeUInt32BE(this.reader.bytesRead >>> 0);
      out.push({ type: 'send', bytes: this.control(MSG.ACK, b) });
    }
    return out;
  }

  private onMessage(msg: RtmpMessage, out: SessionAction[]): void {
    switch (msg.typeId) {
      case MSG.WINDOW_ACK_SIZE:
        if (msg.payload.length >= 4) this.peerWindow = Buffer.from(msg.payload).readUInt32BE(0);
        return;
      case MSG.USER_CONTROL: {
        const p = Buffer.from(msg.payload);
        // PingRequest (6) -> PingResponse (7) with the same timestamp.
        if (p.length >= 6 && p.readUInt16BE(0) === 6) {
          const r = Buffer.alloc(6);
          r.writeUInt16BE(7, 0);
          r.writeUInt32BE(p.readUInt32BE(2), 2);
          out.push({ type: 'send', bytes: this.control(MSG.USER_CONTROL, r) });
        }
        return;
      }
      case MSG.COMMAND_AMF0:
        this.onCommand(decodeAmf0(msg.payload), msg, out);
        return;
      case MSG.COMMAND_AMF3:
        // AMF3 command messages carry a leading format byte then AMF0 (as FMS clients send them).
        this.onCommand(decodeAmf0(msg.payload.subarray(1)), msg, out);
        return;
      case MSG.AUDIO:
      case MSG.VIDEO:
        if (this.publishing && msg.payload.length > 0) {
          out.push({
            type: 'media',
            kind: msg.typeId === MSG.AUDIO ? 'audio' : 'video',
            timestamp: msg.timestamp,
            payload: msg.payload,
          });
        }
        return;
      case MSG.DATA_AMF0:
      case MSG.DATA_AMF3:
        if (this.publishing) this.onData(msg, out);
        return;
      case MSG.AGGREGATE:
        if (this.publishing) this.onAggregate(msg, out);
        return;
      default:
        return; // Set Chunk Size / Abort handled by the reader; ACK and bandwidth messages need nothing.
    }
  }

  private onCommand(values: Amf0Value[], msg: RtmpMessage, out: SessionAction[]): void {
    const [name, txId] = values;
    if (typeof name !== 'string') throw new RtmpProtocolError('command message without a name');
    const tx = typeof txId === 'number' ? txId : 0;
    switch (name) {
      case 'connect': {
        const obj = values[2];
        const app =
          obj && typeof obj === 'object' && !Array.isArray(obj) && !(obj instanceof Date)
            ? obj.app
            : undefined;
        this.app = typeof app === 'string' ? app.replace(/\?.*$/, '').replace(/\/+$/, '') : '';
        const was = Buffer.alloc(4);
        was.writeUInt32BE(WINDOW_ACK_SIZE);
        const spb = Buffer.alloc(5);
        spb.writeUInt32BE(WINDOW_ACK_SIZE);
        spb[4] = 2; // dynamic
        const scs = Buffer.alloc(4);
        scs.writeUInt32BE(OUT_CHUNK_SIZE);
        const bytes = Buffer.concat([
          this.control(MSG.WINDOW_ACK_SIZE, was),
          this.control(MSG.SET_PEER_BANDWIDTH, spb),
          this.control(MSG.SET_CHUNK_SIZE, scs),
        ]);
        this.writer.chunkSize = OUT_CHUNK_SIZE;
        out.push({
          type: 'send',
          bytes: Buffer.concat([
            bytes,
            this.command(
              0,
              '_result',
              tx,
              { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
              {
                level: 'status',
                code: 'NetConnection.Connect.Success',
                description: 'Connection succeeded.',
                objectEncoding: 0,
              },
            ),
          ]),
        });
        return;
      }
      case 'releaseStream':
      case 'FCPublish':
        if (tx > 0) out.push({ type: 'send', bytes: this.command(0, '_result', tx, null, undefined) });
        return;
      case 'createStream':
        out.push({ type: 'send', bytes: this.command(0, '_result', tx, null, PUBLISH_STREAM_ID) });
        return;
      case 'publish': {
        if (this.publishRequested) throw new RtmpProtocolError('second publish on one connection');
        const raw = values[3];
        if (typeof raw !== 'string' || raw === '')
          throw new RtmpProtocolError('publish without a stream name');
        this.publishRequested = true;
        out.push({ type: 'publish', app: this.app ?? '', name: raw.replace(/\?.*$/, ''), rawName: raw });
        return;
      }
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        if (this.publishing && !this.unpublished) {
          this.unpublished = true;
          this.publishing = false;
          out.push({ type: 'unpublish' });
        }
        return;
      case 'play':
      case 'play2':
        out.push({
          type: 'send',
          bytes: this.status('error', 'NetStream.Play.Failed', 'this server only takes publishers'),
        });
        out.push({ type: 'close', reason: 'play requested' });
        this.state = 'closed';
        return;
      default:
        void msg;
        return;
    }
  }

  /** @setDataFrame("onMetaData", {...}) becomes an FLV script tag onMetaData({...}). */
  private onData(msg: RtmpMessage, out: SessionAction[]): void {
    const payload = msg.typeId === MSG.DATA_AMF3 ? msg.payload.subarray(1) : msg.payload;
    let values: Amf0Value[];
    try {
      values = decodeAmf0(payload);
    } catch {
      return; // metadata is advisory; a bad one is skipped
    }
    if (values[0] === '@setDataFrame') values = values.slice(1);
    if (values[0] !== 'onMetaData') return;
    out.push({ type: 'media', kind: 'data', timestamp: msg.timestamp, payload: encodeAmf0(...values) });
  }

  /** Aggregate messages (type 22) hold FLV tags back to back; timestamps are relative to the first. */
  private onAggregate(msg: RtmpMessage, out: SessionAction[]): void {
    const b = Buffer.from(msg.payload);
    let p = 0;
    let base: number | undefined;
    while (p + 11 <= b.length) {
      const type = b[p]!;
      const size = b.readUIntBE(p + 1, 3);
      const ts = (b.readUIntBE(p + 4, 3) | (b[p + 7]! << 24)) >>> 0;
      if (p + 11 + size + 4 > b.length)
        throw new RtmpProtocolError('aggregate message tag runs past its end');
      base ??= ts;
      const payload = b.subarray(p + 11, p + 11 + size);
      const timestamp = (msg.timestamp + (ts - base)) >>> 0;
      if (type === MSG.AUDIO || type === MSG.VIDEO)
        out.push({ type: 'media', kind: type === MSG.AUDIO ? 'audio' : 'video', timestamp, payload });
      p += 11 + size + 4;
    }
  }
}
