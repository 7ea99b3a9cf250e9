import { BoxParseError } from '../errors.js';
import { type BoxRef, findChild } from './box.js';
import { BoxCursor } from './bytes.js';

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** RFC 6381 codec string for a sample entry, read from its configuration box. */
export function codecString(bytes: Uint8Array, entry: BoxRef, children: BoxRef[]): string {
  const fourcc = entry.type;
  const config = (type: string): BoxCursor => {
    const box = findChild(children, type);
    if (!box)
      throw new BoxParseError('missing-box', fourcc, entry.absOffset, `sample entry has no ${type} box`);
    return new BoxCursor(bytes, type, box.absOffset, box.payloadStart, box.end);
  };
  switch (fourcc) {
    case 'avc1':
    case 'avc3':
      return avcCodec(fourcc, config('avcC'));
    case 'hvc1':
    case 'hev1':
      return hevcCodec(fourcc, config('hvcC'));
    case 'mp4a':
      return aacCodec(config('esds'));
    case 'Opus':
      return 'opus';
    case 'ac-3':
    case 'ec-3':
      return fourcc;
    default:
      // Unknown but well-formed: pass the sample entry type through (e.g. av01, vp09 without detail).
      return fourcc;
  }
}

/** ISO/IEC 14496-15 5.3.3.1: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication. */
function avcCodec(fourcc: string, c: BoxCursor): string {
  c.u8('configurationVersion');
  const profile = c.u8('AVCProfileIndication');
  const compat = c.u8('profile_compatibility');
  const level = c.u8('AVCLevelIndication');
  return `${fourcc}.${hex2(profile)}${hex2(compat)}${hex2(level)}`;
}

/**
 * ISO/IEC 14496-15 Annex E.3: hvc1.[profile_space letter]profile_idc.[compat flags, bit-reversed, hex]
 * .[L|H]level_idc[.constraint bytes, trailing zero bytes dropped].
 */
function hevcCodec(fourcc: string, c: BoxCursor): string {
  c.u8('configurationVersion');
  const b = c.u8('general_profile_space/tier/profile');
  const space = b >> 6;
  const tier = (b >> 5) & 1;
  const profileIdc = b & 0x1f;
  let compat = c.u32('general_profile_compatibility_flags');
  let reversed = 0;
  for (let i = 0; i < 32; i++) {
    reversed = (reversed << 1) | (compat & 1);
    compat >>>= 1;
  }
  const constraints: number[] = [];
  for (let i = 0; i < 6; i++) constraints.push(c.u8('general_constraint_indicator_flags'));
  const level = c.u8('general_level_idc');
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const spaceLetter = ['', 'A', 'B', 'C'][space]!;
  let s = `${fourcc}.${spaceLetter}${profileIdc}.${(reversed >>> 0).toString(16)}.${tier ? 'H' : 'L'}${level}`;
  for (const x of constraints) s += `.${x.toString(16)}`;
  return s;
}

/**
 * ISO/IEC 14496-1 7.2.6: esds holds an ES_Descriptor (tag 3) containing a DecoderConfigDescriptor (tag 4,
 * objectTypeIndication) containing DecoderSpecificInfo (tag 5) whose first 5 bits are the audioObjectType.
 */
function aacCodec(c: BoxCursor): string {
  c.fullBox(0);
  let objectType = 0;
  let audioObjectType = 0;
  while (c.remaining > 0) {
    const tag = c.u8('descriptor tag');
    let len = 0;
    for (let i = 0; i < 4; i++) {
      const x = c.u8('descriptor length');
      len = (len << 7) | (x & 0x7f);
      if (!(x & 0x80)) break;
    }
    if (tag === 0x03) {
      c.u16('ES_ID');
      const flags = c.u8('ES flags');
      if (flags & 0x80) c.u16('dependsOn_ES_ID');
      if (flags & 0x40) c.skip(c.u8('URLlength'), 'URLstring');
      if (flags & 0x20) c.u16('OCR_ES_Id');
    } else if (tag === 0x04) {
      objectType = c.u8('objectTypeIndication');
      c.skip(12, 'streamType/bufferSize/maxBitrate/avgBitrate');
    } else if (tag === 0x05) {
      const first = c.u8('DecoderSpecificInfo');
      audioObjectType = first >> 3;
      if (audioObjectType === 31)
        audioObjectType = 32 + (((first & 7) << 3) | (c.u8('audioObjectTypeExt') >> 5));
      break;
    } else {
      c.skip(len, 'descriptor');
    }
  }
  if (objectType === 0)
    throw new BoxParseError('invalid-field', 'esds', c.baseOffset, 'no DecoderConfigDescriptor');
  const oti = objectType.toString(16);
  return audioObjectType ? `mp4a.${oti}.${audioObjectType}` : `mp4a.${oti}`;
}
