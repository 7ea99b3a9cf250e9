import { describe, expect, it } from 'vitest';
import { bitsToStamp, paintStamp, readStamp, stampBits } from '../../tools/latency/stamp.js';

const T = 1_795_294_000_123;

describe('frame stamp codec', () => {
  it('round-trips through a luma plane at several sizes', () => {
    for (const [w, h] of [
      [1280, 720],
      [640, 360],
      [426, 240],
      [320, 180],
    ] as const) {
      const plane = new Uint8Array(w * h).fill(128);
      paintStamp(plane, w, h, T);
      expect(readStamp(plane, w, h)).toBe(T);
    }
  });

  it('rejects every 1-bit and 2-bit corruption', () => {
    const bits = stampBits(T);
    for (let i = 0; i < 64; i++) {
      const b = [...bits];
      b[i] = !b[i];
      expect(bitsToStamp(b)).toBeUndefined();
      for (let j = i + 1; j < 64; j++) {
        const c = [...b];
        c[j] = !c[j];
        expect(bitsToStamp(c)).toBeUndefined();
      }
    }
  });

  it('rejects frames without a code: flat, noise, and another picture', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const w = 320;
    const h = 180;
    expect(readStamp(new Uint8Array(w * h).fill(16), w, h)).toBeUndefined();
    expect(readStamp(new Uint8Array(w * h).fill(235), w, h)).toBeUndefined();
    let accepted = 0;
    for (let n = 0; n < 300; n++) {
      const plane = new Uint8Array(w * h);
      for (let i = 0; i < plane.length; i++) plane[i] = Math.floor(rnd() * 256);
      if (readStamp(plane, w, h) !== undefined) accepted++;
    }
    expect(accepted).toBe(0);
  });

  it('refuses to encode a time it cannot carry', () => {
    expect(() => stampBits(-1)).toThrow(RangeError);
    expect(() => stampBits(2 ** 48)).toThrow(RangeError);
  });
});
