import { BoxParseError } from '../errors.js';
import { type BoxRef, childBoxes, childrenOf, findChild, requireChild } from './box.js';
import { BoxCursor } from './bytes.js';
import { codecString } from './codecs.js';

export type TrackKind = 'video' | 'audio';

/** Per-track defaults from moov/mvex/trex, used when a fragment's tfhd/trun leave a field out. */
export interface TrackDefaults {
  sampleDurationTicks: number;
  sampleSize: number;
  sampleFlags: number;
}

/** What the packager needs from an init segment (ftyp+moov) of a single-track CMAF stream. */
export interface InitInfo {
  trackId: number;
  kind: TrackKind;
  /** mdhd timescale: ticks per second of every time in this track. */
  timescale: number;
  /** RFC 6381 codec string, e.g. avc1.64001f, hvc1.1.6.L93.B0, mp4a.40.2. */
  codec: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channelCount?: number;
  defaults: TrackDefaults;
  byteLength: number;
}

/**
 * Parses an init segment: ftyp (optional) then moov. CMAF tracks are one per file; with several traks the
 * first video or audio track is described.
 */
export function parseInit(bytes: Uint8Array, baseAbs = 0): InitInfo {
  const top = childBoxes(bytes, 0, bytes.length, baseAbs, 'init');
  const moov = requireChild(top, 'moov', { type: 'init', absOffset: baseAbs });
  const moovKids = childrenOf(bytes, moov, baseAbs);
  const traks = moovKids.filter((b) => b.type === 'trak');
  if (traks.length === 0) throw new BoxParseError('missing-box', 'moov', moov.absOffset, 'has no trak box');

  let chosen: Omit<InitInfo, 'defaults' | 'byteLength'> | undefined;
  for (const trak of traks) {
    const t = parseTrak(bytes, trak, baseAbs);
    if (t) {
      chosen = t;
      break;
    }
  }
  if (!chosen) throw new BoxParseError('missing-box', 'moov', moov.absOffset, 'has no video or audio trak');

  const defaults: TrackDefaults = { sampleDurationTicks: 0, sampleSize: 0, sampleFlags: 0 };
  const mvex = findChild(moovKids, 'mvex');
  if (mvex) {
    for (const trex of childrenOf(bytes, mvex, baseAbs).filter((b) => b.type === 'trex')) {
      // aligned(8) class TrackExtendsBox extends FullBox('trex', 0, 0) { unsigned int(32) track_ID;
      // default_sample_description_index; default_sample_duration; default_sample_size; default_sample_flags }
      const c = new BoxCursor(bytes, 'trex', trex.absOffset, trex.payloadStart, trex.end);
      c.fullBox(0);
      const trackId = c.u32('track_ID');
      c.u32('default_sample_description_index');
      const d = {
        sampleDurationTicks: c.u32('default_sample_duration'),
        sampleSize: c.u32('default_sample_size'),
        sampleFlags: c.u32('default_sample_flags'),
      };
      if (trackId === chosen.trackId) Object.assign(defaults, d);
    }
  }
  return { ...chosen, defaults, byteLength: bytes.length };
}

function cursor(bytes: Uint8Array, box: BoxRef): BoxCursor {
  return new BoxCursor(bytes, box.type, box.absOffset, box.payloadStart, box.end);
}

function parseTrak(
  bytes: Uint8Array,
  trak: BoxRef,
  baseAbs: number,
): Omit<InitInfo, 'defaults' | 'byteLength'> | undefined {
  const kids = childrenOf(bytes, trak, baseAbs);
  const tkhd = requireChild(kids, 'tkhd', trak);
  // tkhd: version 1 has 64-bit creation/modification times, then track_ID.
  const tc = cursor(bytes, tkhd);
  const { version: tkhdVersion } = tc.fullBox(1);
  tc.skip(tkhdVersion === 1 ? 16 : 8, 'creation/modification time');
  const trackId = tc.u32('track_ID');

  const mdia = requireChild(kids, 'mdia', trak);
  const mdiaKids = childrenOf(bytes, mdia, baseAbs);
  const hdlr = requireChild(mdiaKids, 'hdlr', mdia);
  const hc = cursor(bytes, hdlr);
  hc.fullBox(0);
  hc.u32('pre_defined');
  const handler = hc.fourcc('handler_type');
  const kind: TrackKind | undefined = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : undefined;
  if (!kind) return undefined;

  const mdhd = requireChild(mdiaKids, 'mdhd', mdia);
  const mc = cursor(bytes, mdhd);
  const { version: mdhdVersion } = mc.fullBox(1);
  mc.skip(mdhdVersion === 1 ? 16 : 8, 'creation/modification time');
  const timescale = mc.u32('timescale');
  if (timescale === 0) throw new BoxParseError('invalid-field', 'mdhd', mdhd.absOffset, 'timescale is 0');

  const minf = requireChild(mdiaKids, 'minf', mdia);
  const stbl = requireChild(childrenOf(bytes, minf, baseAbs), 'stbl', minf);
  const stsd = requireChild(childrenOf(bytes, stbl, baseAbs), 'stsd', stbl);
  const sc = cursor(bytes, stsd);
  sc.fullBox(0);
  const entryCount = sc.u32('entry_count');
  if (entryCount < 1) throw new BoxParseError('invalid-field', 'stsd', stsd.absOffset, 'entry_count is 0');
  const entries = childBoxes(bytes, sc.pos, stsd.end, baseAbs, 'stsd');
  const entry = entries[0];
  if (!entry) throw new BoxParseError('missing-box', 'stsd', stsd.absOffset, 'has no sample entry');
  return { trackId, kind, timescale, ...parseSampleEntry(bytes, entry, kind, baseAbs) };
}

/** VisualSampleEntry (14496-12 12.1.3) and AudioSampleEntry (12.2.3) fields and their codec config box. */
function parseSampleEntry(bytes: Uint8Array, entry: BoxRef, kind: TrackKind, baseAbs: number) {
  const c = cursor(bytes, entry);
  c.skip(6, 'reserved');
  c.u16('data_reference_index');
  if (kind === 'video') {
    c.skip(16, 'pre_defined/reserved');
    const width = c.u16('width');
    const height = c.u16('height');
    c.skip(50, 'resolution/frame_count/compressorname/depth');
    const children = childBoxes(bytes, c.pos, entry.end, baseAbs, entry.type);
    return { width, height, codec: codecString(bytes, entry, children) };
  }
  const version = c.u16('version');
  c.skip(6, 'reserved');
  const channelCount = c.u16('channelcount');
  c.u16('samplesize');
  c.skip(4, 'pre_defined/reserved');
  const sampleRate = c.u32('samplerate') >>> 16;
  // QuickTime sound description v1/v2 carry extra fields before the child boxes.
  if (version === 1) c.skip(16, 'sound description v1');
  else if (version === 2) c.skip(36, 'sound description v2');
  const children = childBoxes(bytes, c.pos, entry.end, baseAbs, entry.type);
  return { sampleRate, channelCount, codec: codecString(bytes, entry, children) };
}
