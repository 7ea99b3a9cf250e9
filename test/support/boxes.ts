/** Builds ISO-BMFF bytes inside tests (after hls.js's test helpers): box('trun', ...payload). */
export function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}
export function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}
export function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 255, n & 255]);
}
export function bytes(...parts: Array<Uint8Array | number[]>): Uint8Array {
  const arrs = parts.map((p) => (p instanceof Uint8Array ? p : new Uint8Array(p)));
  const out = new Uint8Array(arrs.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrs) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}
export function box(type: string, ...payload: Array<Uint8Array | number[]>): Uint8Array {
  const body = bytes(...payload);
  return bytes(
    u32(body.length + 8),
    [...type].map((c) => c.charCodeAt(0)),
    body,
  );
}
export function fullBox(
  type: string,
  version: number,
  flags: number,
  ...payload: Array<Uint8Array | number[]>
): Uint8Array {
  return box(type, [version, (flags >> 16) & 255, (flags >> 8) & 255, flags & 255], ...payload);
}

/** A minimal moof+mdat chunk for track 1 with explicit per-sample durations and flags. */
export function chunk(opts: {
  decodeTime: number | bigint;
  durations: number[];
  firstSampleFlags?: number;
  sampleFlags?: number[];
  tfdtVersion?: 0 | 1;
  tfhdDefaultDuration?: number;
  tfhdDefaultFlags?: number;
  omitDurations?: boolean;
}): Uint8Array {
  const v = opts.tfdtVersion ?? 1;
  const tfdt = fullBox('tfdt', v, 0, v === 1 ? u64(BigInt(opts.decodeTime)) : u32(Number(opts.decodeTime)));
  let tfhdFlags = 0x020000; // default-base-is-moof
  const tfhdPayload: Uint8Array[] = [u32(1)];
  if (opts.tfhdDefaultDuration !== undefined) {
    tfhdFlags |= 0x08;
    tfhdPayload.push(u32(opts.tfhdDefaultDuration));
  }
  if (opts.tfhdDefaultFlags !== undefined) {
    tfhdFlags |= 0x20;
    tfhdPayload.push(u32(opts.tfhdDefaultFlags));
  }
  let trunFlags = 0x200; // sizes
  if (!opts.omitDurations) trunFlags |= 0x100;
  if (opts.firstSampleFlags !== undefined) trunFlags |= 0x004;
  if (opts.sampleFlags) trunFlags |= 0x400;
  const entries: Uint8Array[] = opts.durations.map((d, i) =>
    bytes(opts.omitDurations ? [] : u32(d), u32(10), opts.sampleFlags ? u32(opts.sampleFlags[i]!) : []),
  );
  const trun = fullBox(
    'trun',
    0,
    trunFlags,
    u32(opts.durations.length),
    opts.firstSampleFlags !== undefined ? u32(opts.firstSampleFlags) : [],
    ...entries,
  );
  const moof = box(
    'moof',
    fullBox('mfhd', 0, 0, u32(1)),
    box('traf', fullBox('tfhd', 0, tfhdFlags, ...tfhdPayload), tfdt, trun),
  );
  return bytes(moof, box('mdat', new Uint8Array(opts.durations.length * 10)));
}
