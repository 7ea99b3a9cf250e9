/**
 * RTMP chunk stream (Adobe RTMP spec 5.3): messages split into chunks with 1-3 byte basic headers, type 0-3
 * message headers, extended timestamps, and a chunk size the peer can change (Set Chunk Size, type 1).
 * The reader is incremental and bounded; the writer splits messages at our outgoing chunk size.
 */
import { RtmpProtocolError } from './errors.js';

export interface RtmpMessage {
  csid: number;
  typeId: number;
  streamId: number;
  /** Message timestamp, ms (32-bit, as sent). */
  timestamp: number;
  payload: Uint8Array;
}

/** Protocol control and command message type ids (RTMP spec 5.4, 7.1). */
export const MSG = {
  SET_CHUNK_SIZE: 1,
  ABORT: 2,
  ACK: 3,
  USER_CONTROL: 4,
  WINDOW_ACK_SIZE: 5,
  SET_PEER_BANDWIDTH: 6,
  AUDIO: 8,
  VIDEO: 9,
  DATA_AMF3: 15,
  COMMAND_AMF3: 17,
  DATA_AMF0: 18,
  COMMAND_AMF0: 20,
  AGGREGATE: 22,
} as const;

export interface ChunkReaderLimits {
  /** Largest chunk size the peer may set. */
  maxChunkSize: number;
  /** Largest message accepted (the 24-bit length field allows 16 MiB). */
  maxMessageBytes: number;
  /** Most chunk streams a peer may keep open at once. */
  maxChunkStreams: number;
}

interface ChunkStreamState {
  timestamp: number;
  /** The timestamp field of the last header: a delta for types 1-2, absolute for type 0. */
  tsField: number;
  extended: boolean;
  length: number;
  typeId: number;
  streamId: number;
  parts: Uint8Array[];
  received: number;
}

export class ChunkReader {
  chunkSize = 128;
  private buf: Uint8Array = new Uint8Array(0);
  private streams = new Map<number, ChunkStreamState>();
  /** Total bytes consumed, for acknowledgements. */
  bytesRead = 0;

  constructor(readonly limits: ChunkReaderLimits) {}

  push(data: Uint8Array): RtmpMessage[] {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: RtmpMessage[] = [];
    let p = 0;
    for (;;) {
      const consumed = this.readChunk(p, out);
      if (consumed === 0) break;
      p += consumed;
    }
    this.bytesRead += p;
    this.buf = p === this.buf.length ? new Uint8Array(0) : this.buf.subarray(p);
    return out;
  }

  /** Parses one chunk at p; returns bytes consumed, or 0 if the chunk is not complete yet. */
  private readChunk(p0: number, out: RtmpMessage[]): number {
    const b = this.buf;
    let p = p0;
    if (b.length - p < 1) return 0;
    const fmt = b[p]! >> 6;
    let csid = b[p]! & 0x3f;
    p++;
    if (csid === 0) {
      if (b.length - p < 1) return 0;
      csid = 64 + b[p]!;
      p++;
    } else if (csid === 1) {
      if (b.length - p < 2) return 0;
      csid = 64 + b[p]! + b[p + 1]! * 256;
      p += 2;
    }
    const headerLen = [11, 7, 3, 0][fmt]!;
    if (b.length - p < headerLen) return 0;
    let st = this.streams.get(csid);
    if (!st) {
      if (fmt !== 0) throw new RtmpProtocolError(`chunk stream ${csid} starts with a type ${fmt} header`);
      if (this.streams.size >= this.limits.maxChunkStreams)
        throw new RtmpProtocolError(`more than ${this.limits.maxChunkStreams} chunk streams`);
      st = {
        timestamp: 0,
        tsField: 0,
        extended: false,
        length: 0,
        typeId: 0,
        streamId: 0,
        parts: [],
        received: 0,
      };
    }
    // Parse into locals first; commit only when the whole chunk is available.
    let tsField = st.tsField;
    let length = st.length;
    let typeId = st.typeId;
    let streamId = st.streamId;
    let extended = st.extended;
    if (fmt <= 2) {
      tsField = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
      extended = tsField === 0xffffff;
    }
    if (fmt <= 1) {
      length = (b[p + 3]! << 16) | (b[p + 4]! << 8) | b[p + 5]!;
      typeId = b[p + 6]!;
    }
    if (fmt === 0) streamId = b[p + 7]! | (b[p + 8]! << 8) | (b[p + 9]! << 16) | (b[p + 10]! << 24);
    p += headerLen;
    if (extended) {
      if (b.length - p < 4) return 0;
      tsField = ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      p += 4;
    }
    const newMessage = st.received === 0;
    if (!newMessage && fmt !== 3)
      throw new RtmpProtocolError(`chunk stream ${csid}: type ${fmt} header inside a message`);
    if (length > this.limits.maxMessageBytes)
      throw new RtmpProtocolError(
        `message of ${length} bytes exceeds the ${this.limits.maxMessageBytes}-byte limit`,
      );
    const remaining = length - st.received;
    const n = Math.min(this.chunkSize, remaining);
    if (b.length - p < n) return 0;

    // Commit.
    if (newMessage) {
      // As ffmpeg and librtmp read it: type 0 carries an absolute time; types 1-3 add a delta to the previous one.
      st.timestamp = fmt === 0 ? tsField : (st.timestamp + tsField) >>> 0;
    }
    st.tsField = tsField;
    st.extended = extended;
    st.length = length;
    st.typeId = typeId;
    st.streamId = streamId;
    this.streams.set(csid, st);
    if (n > 0) st.parts.push(b.subarray(p, p + n));
    st.received += n;
    p += n;
    if (st.received === length) {
      const payload = st.parts.length === 1 ? st.parts[0]!.slice() : Buffer.concat(st.parts);
      st.parts = [];
      st.received = 0;
      const msg: RtmpMessage = { csid, typeId, streamId, timestamp: st.timestamp, payload };
      this.onControl(msg);
      out.push(msg);
    }
    return p - p0;
  }

  /** Set Chunk Size and Abort take effect immediately, for the very next chunk. */
  private onControl(msg: RtmpMessage): void {
    if (msg.typeId === MSG.SET_CHUNK_SIZE) {
      if (msg.payload.length < 4) throw new RtmpProtocolError('short Set Chunk Size message');
      const size = new DataView(msg.payload.buffer, msg.payload.byteOffset).getUint32(0) & 0x7fffffff;
      if (size < 1 || size > this.limits.maxChunkSize)
        throw new RtmpProtocolError(`chunk size ${size} outside 1..${this.limits.maxChunkSize}`);
      this.chunkSize = size;
    } else if (msg.typeId === MSG.ABORT && msg.payload.length >= 4) {
      const csid = new DataView(msg.payload.buffer, msg.payload.byteOffset).getUint32(0);
      const st = this.streams.get(csid);
      if (st) {
        st.parts = [];
        st.received = 0;
      }
    }
  }
}

/** Splits messages into chunks: type 0 header on the first chunk, type 3 on continuations. */
export class ChunkWriter {
  chunkSize = 128;

  encode(msg: Omit<RtmpMessage, 'csid'> & { csid?: number }): Buffer {
    const csid = msg.csid ?? 3;
    if (csid < 2 || csid > 63)
      throw new RtmpProtocolError(`writer supports chunk stream ids 2-63, not ${csid}`);
    const extended = msg.timestamp >= 0xffffff;
    const header = Buffer.alloc(12 + (extended ? 4 : 0));
    header[0] = csid; // fmt 0
    header.writeUIntBE(extended ? 0xffffff : msg.timestamp, 1, 3);
    header.writeUIntBE(msg.payload.length, 4, 3);
    header[7] = msg.typeId;
    header.writeUInt32LE(msg.streamId, 8);
    if (extended) header.writeUInt32BE(msg.timestamp >>> 0, 12);
    const parts: Buffer[] = [header];
    for (let p = 0; p < msg.payload.length; p += this.chunkSize) {
      if (p > 0) {
        const cont = Buffer.alloc(1 + (extended ? 4 : 0));
        cont[0] = 0xc0 | csid;
        if (extended) cont.writeUInt32BE(msg.timestamp >>> 0, 1);
        parts.push(cont);
      }
      parts.push(
        Buffer.from(
          msg.payload.buffer,
          msg.payload.byteOffset + p,
          Math.min(this.chunkSize, msg.payload.length - p),
        ),
      );
    }
    return Buffer.concat(parts);
  }
}
