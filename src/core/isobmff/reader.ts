import { BoxParseError } from '../errors.js';
import { readBoxHeader } from './box.js';
import { type ChunkInfo, parseChunk } from './fragment.js';
import { type InitInfo, parseInit } from './init.js';

/** Something complete came out of the byte stream. `bytes` is exactly the object's bytes, ready to store. */
export type ReaderEvent =
  | { kind: 'init'; info: InitInfo; bytes: Uint8Array; offset: number }
  | { kind: 'chunk'; info: ChunkInfo; bytes: Uint8Array; offset: number };

export interface StreamReaderOptions {
  /** Largest box accepted; a header claiming more is rejected instead of buffered. Default 64 MiB. */
  maxBoxBytes?: number;
}

/** Pushes smaller than this are copied into a shared block (TAIL_BLOCK bytes) instead of kept as pieces. */
const SMALL_PUSH = 1024;
const TAIL_BLOCK = 64 * 1024;

/** Boxes that may stand before a moof and belong to the chunk that follows (CMAF 7.3.2). */
const CHUNK_PREFIX = new Set(['styp', 'prft', 'emsg', 'sidx', 'ssix', 'free', 'skip', 'uuid']);

/**
 * Incremental ISO-BMFF reader for a fragmented MP4 arriving from a pipe. Feed it byte chunks of any size
 * with push(); it returns the init segment (ftyp+moov) once, then each CMAF chunk the moment its mdat's
 * last byte arrives. Only the bytes of the box in progress are buffered, bounded by maxBoxBytes.
 * After an error the reader stays failed and rethrows it.
 */
export class CmafStreamReader {
  readonly maxBoxBytes: number;
  private pieces: Uint8Array[] = [];
  private pendingBytes = 0;
  /**
   * Small pushes are copied into this block, so the pending pieces stay few: a peer dripping one byte per
   * push (a slow HTTP ingest sender) would otherwise cost an array slot and a view object per byte (measured
   * by bench:fuzz: 463 MB of heap for 2 MB pending).
   */
  private tail: Uint8Array | undefined;
  private tailLen = 0;
  /** Absolute stream offset of the first pending byte. */
  private offset = 0;
  /** Boxes of the object being assembled, and the offset of its first byte. */
  private group: Uint8Array[] = [];
  private groupTypes: string[] = [];
  private groupOffset = 0;
  private init: InitInfo | undefined;
  private failed: Error | undefined;

  constructor(options: StreamReaderOptions = {}) {
    this.maxBoxBytes = options.maxBoxBytes ?? 64 * 1024 * 1024;
  }

  /** The init segment seen so far, if any. */
  get initInfo(): InitInfo | undefined {
    return this.init;
  }

  /** Bytes held while waiting for the rest of a box or chunk. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.group.reduce((n, b) => n + b.length, 0);
  }

  push(data: Uint8Array): ReaderEvent[] {
    if (this.failed) throw this.failed;
    if (data.length >= SMALL_PUSH) this.pieces.push(data);
    else if (data.length > 0) this.append(data);
    this.pendingBytes += data.length;
    const events: ReaderEvent[] = [];
    try {
      for (;;) {
        const head = this.peek(16);
        const h = readBoxHeader(head, 0, head.length, this.offset);
        if (!h) break;
        if (h.size === 0) {
          throw new BoxParseError(
            'size-too-large',
            h.type,
            this.offset,
            'size 0 (to end of file) cannot be read from a live stream',
          );
        }
        if (h.size > this.maxBoxBytes) {
          throw new BoxParseError(
            'size-too-large',
            h.type,
            this.offset,
            `size ${h.size} exceeds the ${this.maxBoxBytes}-byte limit`,
          );
        }
        if (this.pendingBytes < h.size) break;
        const boxOffset = this.offset;
        const box = this.take(h.size);
        const ev = this.onBox(h.type, box, boxOffset);
        if (ev) events.push(ev);
      }
    } catch (err) {
      this.failed =
        err instanceof BoxParseError
          ? err
          : new BoxParseError('invalid-field', 'stream', this.offset, String(err));
      throw this.failed;
    }
    return events;
  }

  /** Call at end of stream: throws if a box or chunk was left incomplete. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.pendingBytes > 0) {
      const head = this.peek(8);
      const type = head.length >= 8 ? String.fromCharCode(...head.subarray(4, 8)) : 'stream';
      throw (this.failed = new BoxParseError(
        'truncated',
        type,
        this.offset,
        `stream ended inside a box (${this.pendingBytes} bytes pending)`,
      ));
    }
    if (this.group.length > 0) {
      throw (this.failed = new BoxParseError(
        'truncated',
        this.groupTypes.join('+'),
        this.groupOffset,
        'stream ended before the chunk was complete',
      ));
    }
  }

  private onBox(type: string, box: Uint8Array, boxOffset: number): ReaderEvent | undefined {
    if (this.group.length === 0) this.groupOffset = boxOffset;
    switch (type) {
      case 'ftyp':
        if (this.group.length > 0)
          throw new BoxParseError('unexpected-box', type, boxOffset, `after ${this.groupTypes.join('+')}`);
        this.add(type, box);
        return undefined;
      case 'moov': {
        this.add(type, box);
        const bytes = this.flush();
        this.init = parseInit(bytes, this.groupOffset);
        return { kind: 'init', info: this.init, bytes, offset: this.groupOffset };
      }
      case 'moof':
        if (!this.init)
          throw new BoxParseError('unexpected-box', type, boxOffset, 'moof before the init segment');
        if (this.groupTypes.includes('moof'))
          throw new BoxParseError('unexpected-box', type, boxOffset, 'second moof before an mdat');
        this.add(type, box);
        return undefined;
      case 'mdat': {
        if (!this.groupTypes.includes('moof'))
          throw new BoxParseError('unexpected-box', type, boxOffset, 'mdat without a preceding moof');
        this.add(type, box);
        const offset = this.groupOffset;
        const bytes = this.flush();
        return { kind: 'chunk', info: parseChunk(bytes, this.init!.defaults, offset), bytes, offset };
      }
      case 'mfra':
      case 'mfro':
        // Random-access index written at end of file: not media.
        return undefined;
      default:
        if (!CHUNK_PREFIX.has(type) && this.group.length === 0 && !this.init) {
          throw new BoxParseError(
            'unexpected-box',
            type,
            boxOffset,
            'unexpected box before the init segment',
          );
        }
        this.add(type, box);
        return undefined;
    }
  }

  private add(type: string, box: Uint8Array): void {
    this.group.push(box);
    this.groupTypes.push(type);
  }

  private flush(): Uint8Array {
    const bytes = concat(this.group);
    this.group = [];
    this.groupTypes = [];
    return bytes;
  }

  /** Copies a small push into the tail block, extending the last pending piece when it ends there. */
  private append(data: Uint8Array): void {
    if (!this.tail || this.tailLen + data.length > this.tail.length) {
      this.tail = new Uint8Array(TAIL_BLOCK);
      this.tailLen = 0;
    }
    const tail = this.tail;
    tail.set(data, this.tailLen);
    const last = this.pieces[this.pieces.length - 1];
    if (
      last &&
      last.buffer === tail.buffer &&
      last.byteOffset + last.length === tail.byteOffset + this.tailLen
    )
      this.pieces[this.pieces.length - 1] = tail.subarray(
        last.byteOffset - tail.byteOffset,
        this.tailLen + data.length,
      );
    else this.pieces.push(tail.subarray(this.tailLen, this.tailLen + data.length));
    this.tailLen += data.length;
  }

  /** Up to n pending bytes, without consuming them. */
  private peek(n: number): Uint8Array {
    const first = this.pieces[0];
    if (!first) return new Uint8Array(0);
    if (first.length >= n || this.pieces.length === 1) return first.subarray(0, n);
    const out = new Uint8Array(Math.min(n, this.pendingBytes));
    let p = 0;
    for (const piece of this.pieces) {
      const k = Math.min(piece.length, out.length - p);
      out.set(piece.subarray(0, k), p);
      p += k;
      if (p === out.length) break;
    }
    return out;
  }

  /** Consumes exactly n pending bytes (n <= pendingBytes); zero-copy when they lie in one piece. */
  private take(n: number): Uint8Array {
    this.pendingBytes -= n;
    this.offset += n;
    const first = this.pieces[0]!;
    if (first.length >= n) {
      if (first.length === n) this.pieces.shift();
      else this.pieces[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let p = 0;
    while (p < n) {
      const piece = this.pieces[0]!;
      const k = Math.min(piece.length, n - p);
      out.set(piece.subarray(0, k), p);
      p += k;
      if (k === piece.length) this.pieces.shift();
      else this.pieces[0] = piece.subarray(k);
    }
    return out;
  }
}

/** Concatenates byte arrays; returns the only element itself when there is one. */
export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
