import { BoxParseError } from '../errors.js';
import { type BoxRef, childBoxes, childrenOf, findChild, requireChild } from './box.js';
import { BoxCursor } from './bytes.js';
import type { TrackDefaults } from './init.js';

/** What the timeline needs from one CMAF chunk (moof+mdat, with any styp/prft/emsg before it). */
export interface ChunkInfo {
  trackId: number;
  sequenceNumber: number;
  /** tfdt baseMediaDecodeTime, in the track timescale. */
  baseMediaDecodeTime: number;
  sampleCount: number;
  /** Sum of the sample durations, in the track timescale. */
  durationTicks: number;
  /** The first sample is a sync sample (sample_is_non_sync_sample == 0). */
  startsWithSync: boolean;
  byteLength: number;
}

// tfhd flags (14496-12 8.8.7)
const TFHD_BASE_DATA_OFFSET = 0x000001;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002;
const TFHD_DEFAULT_DURATION = 0x000008;
const TFHD_DEFAULT_SIZE = 0x000010;
const TFHD_DEFAULT_FLAGS = 0x000020;
// trun flags (14496-12 8.8.8)
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_FIRST_SAMPLE_FLAGS = 0x000004;
const TRUN_DURATION = 0x000100;
const TRUN_SIZE = 0x000200;
const TRUN_FLAGS = 0x000400;
const TRUN_CTO = 0x000800;
/** sample_flags bit 16: sample_is_non_sync_sample. */
const SAMPLE_IS_NON_SYNC = 0x00010000;

const cursor = (bytes: Uint8Array, box: BoxRef): BoxCursor =>
  new BoxCursor(bytes, box.type, box.absOffset, box.payloadStart, box.end);

/**
 * Parses one CMAF chunk. Exactly one traf is expected (a CMAF track file carries one track); its durations
 * and sync flag fall back from trun per-sample values to tfhd defaults to the trex defaults.
 */
export function parseChunk(bytes: Uint8Array, defaults: TrackDefaults, baseAbs = 0): ChunkInfo {
  const top = childBoxes(bytes, 0, bytes.length, baseAbs, 'chunk');
  const moof = requireChild(top, 'moof', { type: 'chunk', absOffset: baseAbs });
  if (!findChild(top, 'mdat')) throw new BoxParseError('missing-box', 'chunk', baseAbs, 'has no mdat box');
  const moofKids = childrenOf(bytes, moof, baseAbs);
  const mfhd = requireChild(moofKids, 'mfhd', moof);
  const mc = cursor(bytes, mfhd);
  mc.fullBox(0);
  const sequenceNumber = mc.u32('sequence_number');

  const trafs = moofKids.filter((b) => b.type === 'traf');
  if (trafs.length !== 1) {
    throw new BoxParseError(
      'invalid-field',
      'moof',
      moof.absOffset,
      `has ${trafs.length} traf boxes; a CMAF chunk carries exactly one`,
    );
  }
  const traf = trafs[0]!;
  const trafKids = childrenOf(bytes, traf, baseAbs);

  const tfhd = requireChild(trafKids, 'tfhd', traf);
  const hc = cursor(bytes, tfhd);
  const { flags: tfhdFlags } = hc.fullBox(0);
  const trackId = hc.u32('track_ID');
  if (tfhdFlags & TFHD_BASE_DATA_OFFSET) hc.u64('base_data_offset');
  if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) hc.u32('sample_description_index');
  const defDuration =
    tfhdFlags & TFHD_DEFAULT_DURATION ? hc.u32('default_sample_duration') : defaults.sampleDurationTicks;
  if (tfhdFlags & TFHD_DEFAULT_SIZE) hc.u32('default_sample_size');
  const defFlags = tfhdFlags & TFHD_DEFAULT_FLAGS ? hc.u32('default_sample_flags') : defaults.sampleFlags;

  const tfdt = requireChild(trafKids, 'tfdt', traf);
  const dc = cursor(bytes, tfdt);
  const { version: tfdtVersion } = dc.fullBox(1);
  const baseMediaDecodeTime =
    tfdtVersion === 1 ? dc.u64('baseMediaDecodeTime') : dc.u32('baseMediaDecodeTime');

  let sampleCount = 0;
  let durationTicks = 0;
  let firstFlags: number | undefined;
  for (const trun of trafKids) {
    if (trun.type !== 'trun') continue;
    const rc = cursor(bytes, trun);
    const { flags } = rc.fullBox(1);
    const count = rc.u32('sample_count');
    if (flags & TRUN_DATA_OFFSET) rc.i32('data_offset');
    const firstSampleFlags = flags & TRUN_FIRST_SAMPLE_FLAGS ? rc.u32('first_sample_flags') : undefined;
    const perSample =
      (flags & TRUN_DURATION ? 4 : 0) +
      (flags & TRUN_SIZE ? 4 : 0) +
      (flags & TRUN_FLAGS ? 4 : 0) +
      (flags & TRUN_CTO ? 4 : 0);
    // Check the whole table fits before walking it, so a bogus sample_count fails fast.
    rc.need(count * perSample, `${count} sample entries`);
    for (let i = 0; i < count; i++) {
      const d = flags & TRUN_DURATION ? rc.u32('sample_duration') : defDuration;
      if (flags & TRUN_SIZE) rc.u32('sample_size');
      const f = flags & TRUN_FLAGS ? rc.u32('sample_flags') : undefined;
      if (flags & TRUN_CTO) rc.u32('sample_composition_time_offset');
      durationTicks += d;
      if (sampleCount === 0 && i === 0) firstFlags = firstSampleFlags ?? f ?? defFlags;
    }
    sampleCount += count;
  }
  if (sampleCount === 0) throw new BoxParseError('invalid-field', 'traf', traf.absOffset, 'has no samples');
  if (!Number.isSafeInteger(durationTicks)) {
    throw new BoxParseError('largesize-overflow', 'trun', traf.absOffset, 'total duration exceeds 2^53-1');
  }
  return {
    trackId,
    sequenceNumber,
    baseMediaDecodeTime,
    sampleCount,
    durationTicks,
    startsWithSync: ((firstFlags ?? 0) & SAMPLE_IS_NON_SYNC) === 0,
    byteLength: bytes.length,
  };
}
