import { BoxParseError } from '../errors.js';

/**
 * A bounds-checked big-endian cursor over a box payload. Every read that would pass the end throws a
 * BoxParseError naming the box and the absolute offset, so a malformed box never yields a bare RangeError.
 */
export class BoxCursor {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly boxType: string,
    /** Absolute stream offset of the box being read, named in error messages. */
    readonly baseOffset: number,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new BoxParseError('truncated', this.boxType, this.baseOffset, `truncated reading ${what}`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const b = this.bytes;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(what = 'u24'): number {
    this.need(3, what);
    const b = this.bytes;
    const v = (b[this.pos]! << 16) | (b[this.pos + 1]! << 8) | b[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = readU32(this.bytes, this.pos);
    this.pos += 4;
    return v;
  }

  i32(what = 'i32'): number {
    return this.u32(what) | 0;
  }

  /** A 64-bit unsigned field; throws unless it fits a JavaScript safe integer. */
  u64(what = 'u64'): number {
    this.need(8, what);
    const v = readU64Safe(this.bytes, this.pos, this.boxType, this.baseOffset, what);
    this.pos += 8;
    return v;
  }

  skip(n: number, what = 'reserved bytes'): void {
    this.need(n, what);
    this.pos += n;
  }

  fourcc(what = 'fourcc'): string {
    this.need(4, what);
    const s = fourccAt(this.bytes, this.pos);
    this.pos += 4;
    return s;
  }

  /** FullBox header: version(8) flags(24). Rejects versions above maxVersion. */
  fullBox(maxVersion: number): { version: number; flags: number } {
    const version = this.u8('version');
    const flags = this.u24('flags');
    if (version > maxVersion) {
      throw new BoxParseError(
        'unsupported-version',
        this.boxType,
        this.baseOffset,
        `unsupported version ${version} (max ${maxVersion})`,
      );
    }
    return { version, flags };
  }
}

export function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/** Reads a 64-bit big-endian unsigned integer; throws 'largesize-overflow' past Number.MAX_SAFE_INTEGER. */
export function readU64Safe(b: Uint8Array, p: number, boxType: string, offset: number, what: string): number {
  const hi = readU32(b, p);
  const lo = readU32(b, p + 4);
  // 2^53 - 1 has hi = 0x1fffff.
  if (hi > 0x1fffff) {
    throw new BoxParseError('largesize-overflow', boxType, offset, `${what} exceeds 2^53-1`);
  }
  return hi * 0x100000000 + lo;
}

/** Four ASCII bytes as a string; non-printable bytes are shown as '?' so error messages stay readable. */
export function fourccAt(b: Uint8Array, p: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = b[p + i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s;
}
