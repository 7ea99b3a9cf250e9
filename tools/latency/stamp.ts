/**
 * The machine-readable time stamp burned into every frame of the stamped source: 64 cells (16 x 4) across the
 * top quarter of the picture, each black (0) or white (1), carrying a 48-bit Unix time in milliseconds and a
 * CRC-16/CCITT of it. Cells are large (1/16 of the width, 1/16 of the height) so the code survives scaling to
 * the smallest rung and lossy encoding; the CRC rejects a misread (every 1- and 2-bit error, every burst up to
 * 16 bits, and all but 1 in 65,536 random patterns). Pure: works on luma planes.
 */
export const STAMP_COLS = 16;
export const STAMP_ROWS = 4;
const BITS = STAMP_COLS * STAMP_ROWS;
/** A cell is 1/16 of the picture height: the four rows fill the top quarter. */
const CELL_HEIGHT_DIVISOR = 16;
const BLACK = 16;
const WHITE = 235;

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xffff). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** 64 bits, most significant first: 48-bit ms then the CRC of those 6 bytes. */
export function stampBits(unixMs: number): boolean[] {
  if (!Number.isSafeInteger(unixMs) || unixMs < 0 || unixMs >= 2 ** 48)
    throw new RangeError(`stamp out of range: ${unixMs}`);
  const bytes = new Uint8Array(6);
  let v = unixMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = v % 256;
    v = Math.floor(v / 256);
  }
  const crc = crc16(bytes);
  const all = [...bytes, crc >> 8, crc & 0xff];
  const bits: boolean[] = [];
  for (const b of all) for (let i = 7; i >= 0; i--) bits.push(((b >> i) & 1) === 1);
  return bits;
}

/** The timestamp carried by 64 bits, or undefined if the CRC does not match. */
export function bitsToStamp(bits: boolean[]): number | undefined {
  if (bits.length !== BITS) return undefined;
  const bytes = new Uint8Array(8);
  bits.forEach((b, i) => {
    if (b) bytes[i >> 3]! |= 0x80 >> (i & 7);
  });
  const crc = (bytes[6]! << 8) | bytes[7]!;
  if (crc16(bytes.subarray(0, 6)) !== crc) return undefined;
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + bytes[i]!;
  return v;
}

function cellRect(col: number, row: number, width: number, height: number): [number, number, number, number] {
  const x0 = Math.floor((col * width) / STAMP_COLS);
  const x1 = Math.floor(((col + 1) * width) / STAMP_COLS);
  const y0 = Math.floor((row * height) / CELL_HEIGHT_DIVISOR);
  const y1 = Math.floor(((row + 1) * height) / CELL_HEIGHT_DIVISOR);
  return [x0, y0, x1, y1];
}

/** Paints the stamp into a luma plane (width x height, one byte per pixel). */
export function paintStamp(luma: Uint8Array, width: number, height: number, unixMs: number): void {
  const bits = stampBits(unixMs);
  for (let r = 0; r < STAMP_ROWS; r++) {
    for (let c = 0; c < STAMP_COLS; c++) {
      const [x0, y0, x1, y1] = cellRect(c, r, width, height);
      const v = bits[r * STAMP_COLS + c] ? WHITE : BLACK;
      for (let y = y0; y < y1; y++) luma.fill(v, y * width + x0, y * width + x1);
    }
  }
}

/**
 * Reads the stamp from a luma/gray plane of any size: each cell's centre half is averaged and thresholded.
 * Returns undefined when the code is absent or damaged.
 */
export function readStamp(luma: Uint8Array, width: number, height: number): number | undefined {
  const bits: boolean[] = [];
  for (let r = 0; r < STAMP_ROWS; r++) {
    for (let c = 0; c < STAMP_COLS; c++) {
      const [x0, y0, x1, y1] = cellRect(c, r, width, height);
      const mx = Math.max(1, Math.floor((x1 - x0) / 4));
      const my = Math.max(1, Math.floor((y1 - y0) / 4));
      let sum = 0;
      let n = 0;
      for (let y = y0 + my; y < y1 - my; y++) {
        for (let x = x0 + mx; x < x1 - mx; x++) {
          sum += luma[y * width + x]!;
          n++;
        }
      }
      if (n === 0) return undefined;
      bits.push(sum / n > (BLACK + WHITE) / 2);
    }
  }
  return bitsToStamp(bits);
}
