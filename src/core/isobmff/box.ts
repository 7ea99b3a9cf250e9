import { BoxParseError } from '../errors.js';
import { fourccAt, readU32, readU64Safe } from './bytes.js';

/** One box located inside a byte range. Offsets are relative to the array; `absOffset` is in the stream. */
export interface BoxRef {
  type: string;
  /** Index of the box's first header byte in the array. */
  start: number;
  /** Index one past the box's last byte. */
  end: number;
  /** Index of the first payload byte (after size, type and any largesize). */
  payloadStart: number;
  /** Absolute stream offset of the box, for errors. */
  absOffset: number;
}

/** Size and type of the box header at p, or null when fewer than the header's bytes are available. */
export interface BoxHeader {
  type: string;
  /** Total box size in bytes, or 0 for "extends to the end of the file". */
  size: number;
  headerSize: number;
}

/**
 * ISO/IEC 14496-12 4.2: aligned(8) class Box { unsigned int(32) size; unsigned int(32) type;
 * if (size==1) unsigned int(64) largesize; else if (size==0) box extends to end of file; }
 * Returns null if the header is not complete within [p, end).
 */
export function readBoxHeader(b: Uint8Array, p: number, end: number, absOffset: number): BoxHeader | null {
  if (end - p < 8) return null;
  const size32 = readU32(b, p);
  const type = fourccAt(b, p + 4);
  if (size32 === 1) {
    if (end - p < 16) return null;
    const size = readU64Safe(b, p + 8, type, absOffset, 'largesize');
    if (size < 16) {
      throw new BoxParseError(
        'size-too-small',
        type,
        absOffset,
        `largesize ${size} is smaller than its 16-byte header`,
      );
    }
    return { type, size, headerSize: 16 };
  }
  if (size32 !== 0 && size32 < 8) {
    throw new BoxParseError(
      'size-too-small',
      type,
      absOffset,
      `size ${size32} is smaller than its 8-byte header`,
    );
  }
  return { type, size: size32, headerSize: 8 };
}

/**
 * The child boxes of a container payload [start, end). A child that claims to extend past its parent is
 * 'size-past-end'; a header cut short is 'truncated'. size==0 means "to the end of the parent".
 */
export function childBoxes(
  b: Uint8Array,
  start: number,
  end: number,
  baseAbs: number,
  parent: string,
): BoxRef[] {
  const out: BoxRef[] = [];
  let p = start;
  while (p < end) {
    const abs = baseAbs + p;
    const h = readBoxHeader(b, p, end, abs);
    if (!h)
      throw new BoxParseError('truncated', parent, abs, `truncated child box header (${end - p} bytes left)`);
    const size = h.size === 0 ? end - p : h.size;
    if (p + size > end) {
      throw new BoxParseError(
        'size-past-end',
        h.type,
        abs,
        `size ${size} runs past the end of ${parent} (${end - p} bytes left)`,
      );
    }
    out.push({ type: h.type, start: p, end: p + size, payloadStart: p + h.headerSize, absOffset: abs });
    p += size;
  }
  return out;
}

/** The first child of the given type, or undefined. */
export function findChild(children: BoxRef[], type: string): BoxRef | undefined {
  for (const c of children) if (c.type === type) return c;
  return undefined;
}

/** The first child of the given type, or a 'missing-box' error naming the parent. */
export function requireChild(
  children: BoxRef[],
  type: string,
  parent: BoxRef | { type: string; absOffset: number },
): BoxRef {
  const c = findChild(children, type);
  if (!c) throw new BoxParseError('missing-box', parent.type, parent.absOffset, `has no ${type} box`);
  return c;
}

/** Children of a container box. */
export function childrenOf(b: Uint8Array, box: BoxRef, baseAbs: number, skip = 0): BoxRef[] {
  return childBoxes(b, box.payloadStart + skip, box.end, baseAbs, box.type);
}
