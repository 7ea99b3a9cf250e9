/**
 * AMF0 (Adobe Action Message Format 0) values as RTMP commands carry them. Decoding is bounded: nesting depth,
 * string length and element counts are checked against the buffer, so hostile input fails with RtmpProtocolError.
 */
import { RtmpProtocolError } from './errors.js';

export type Amf0Value =
  number | boolean | string | null | undefined | Date | Amf0Value[] | { [key: string]: Amf0Value };

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;
const MAX_DEPTH = 16;

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  need(n: number): void {
    if (this.pos + n > this.b.length) throw new RtmpProtocolError(`AMF0 value truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 4).getUint32(0);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 8).getFloat64(0);
    this.pos += 8;
    return v;
  }
  str(len: number): string {
    this.need(len);
    const s = Buffer.from(this.b.buffer, this.b.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return s;
  }
}

function readValue(r: Reader, depth: number): Amf0Value {
  if (depth > MAX_DEPTH) throw new RtmpProtocolError('AMF0 nesting too deep');
  const marker = r.u8();
  switch (marker) {
    case NUMBER:
      return r.f64();
    case BOOLEAN:
      return r.u8() !== 0;
    case STRING:
      return r.str(r.u16());
    case LONG_STRING:
      return r.str(r.u32());
    case NULL:
      return null;
    case UNDEFINED:
      return undefined;
    case OBJECT:
      return readProperties(r, depth);
    case ECMA_ARRAY:
      r.u32(); // associative count: advisory only, the list ends with an object end marker
      return readProperties(r, depth);
    case STRICT_ARRAY: {
      const n = r.u32();
      // Each element takes at least one byte: a count beyond the buffer is a lie.
      if (n > r.b.length - r.pos)
        throw new RtmpProtocolError(`AMF0 strict array of ${n} elements exceeds the message`);
      const out: Amf0Value[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, depth + 1));
      return out;
    }
    case DATE: {
      const ms = r.f64();
      r.u16(); // time zone, unused
      return new Date(ms);
    }
    default:
      throw new RtmpProtocolError(`unsupported AMF0 marker 0x${marker.toString(16)} at byte ${r.pos - 1}`);
  }
}

function readProperties(r: Reader, depth: number): { [key: string]: Amf0Value } {
  const obj: { [key: string]: Amf0Value } = {};
  for (;;) {
    const key = r.str(r.u16());
    if (key === '' && r.b[r.pos] === OBJECT_END) {
      r.pos++;
      return obj;
    }
    const v = readValue(r, depth + 1);
    // Guard against prototype pollution from hostile keys.
    if (key !== '__proto__' && key !== 'constructor' && key !== 'prototype') obj[key] = v;
  }
}

/** Decodes every AMF0 value in a command or data message. */
export function decodeAmf0(bytes: Uint8Array): Amf0Value[] {
  const r = new Reader(bytes);
  const out: Amf0Value[] = [];
  while (r.pos < bytes.length) out.push(readValue(r, 0));
  return out;
}

/** Encodes values as AMF0. Objects are written as anonymous objects; arrays as strict arrays. */
export function encodeAmf0(...values: Amf0Value[]): Uint8Array {
  const parts: Buffer[] = [];
  const write = (v: Amf0Value): void => {
    if (v === null) parts.push(Buffer.from([NULL]));
    else if (v === undefined) parts.push(Buffer.from([UNDEFINED]));
    else if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = NUMBER;
      b.writeDoubleBE(v, 1);
      parts.push(b);
    } else if (typeof v === 'boolean') parts.push(Buffer.from([BOOLEAN, v ? 1 : 0]));
    else if (typeof v === 'string') {
      const s = Buffer.from(v, 'utf8');
      if (s.length > 0xffff) {
        const h = Buffer.alloc(5);
        h[0] = LONG_STRING;
        h.writeUInt32BE(s.length, 1);
        parts.push(h, s);
      } else {
        const h = Buffer.alloc(3);
        h[0] = STRING;
        h.writeUInt16BE(s.length, 1);
        parts.push(h, s);
      }
    } else if (v instanceof Date) {
      const b = Buffer.alloc(11);
      b[0] = DATE;
      b.writeDoubleBE(v.getTime(), 1);
      parts.push(b);
    } else if (Array.isArray(v)) {
      const h = Buffer.alloc(5);
      h[0] = STRICT_ARRAY;
      h.writeUInt32BE(v.length, 1);
      parts.push(h);
      v.forEach(write);
    } else {
      parts.push(Buffer.from([OBJECT]));
      for (const [k, val] of Object.entries(v)) {
        const kb = Buffer.from(k, 'utf8');
        const h = Buffer.alloc(2);
        h.writeUInt16BE(kb.length);
        parts.push(h, kb);
        write(val);
      }
      parts.push(Buffer.from([0, 0, OBJECT_END]));
    }
  };
  values.forEach(write);
  return Buffer.concat(parts);
}
