/**
 * Puts CEA-608 captions into an H.264 elementary stream (Annex B), the way a broadcast encoder carries them:
 * one SEI NAL unit per picture, payload user_data_registered_itu_t_t35 (ATSC A/53 Part 4, 6.2.3: country
 * 0xB5, provider 0x0031, user_identifier 'GA94', user_data_type_code 0x03, then cc_data()), inserted before the
 * picture's first slice. Each picture carries one CEA-608 field-1 byte pair (CC1): the pop-on captions given,
 * else padding. Used by fixtures/make-fixtures.sh to make the captions fixture; ffmpeg has no 608 encoder.
 *
 *   npx tsx tools/source/cea608.ts IN.h264 OUT.h264 FPS SECONDS_PER_CAPTION "TEXT 1" "TEXT 2" ...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A byte with its top bit set so that it has an odd number of one bits (CEA-608 odd parity). */
export function oddParity(b: number): number {
  let ones = 0;
  for (let v = b & 0x7f; v; v >>= 1) ones += v & 1;
  return (b & 0x7f) | (ones % 2 === 0 ? 0x80 : 0);
}

/** CEA-608 CC1 control codes (first byte 0x14 = data channel 1, field 1). */
const RCL = [0x14, 0x20]; // resume caption loading (pop-on)
const EDM = [0x14, 0x2c]; // erase displayed memory
const EOC = [0x14, 0x2f]; // end of caption: flip the loaded caption onto the screen
const PAC_ROW15 = [0x14, 0x60]; // preamble address: row 15, white, column 0

/**
 * The byte pairs (before parity) of one pop-on caption: load, place on row 15, the text (basic characters,
 * two per pair, padded with a null), show. Control codes are sent twice, as decoders expect (608 8.4).
 */
export function popOnPairs(text: string): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  const twice = (c: number[]): void => {
    pairs.push([c[0]!, c[1]!], [c[0]!, c[1]!]);
  };
  twice(RCL);
  twice(PAC_ROW15);
  const chars = [...text].map((ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) throw new Error(`not a basic CEA-608 character: ${JSON.stringify(ch)}`);
    return code;
  });
  for (let i = 0; i < chars.length; i += 2) pairs.push([chars[i]!, chars[i + 1] ?? 0x00]);
  twice(EDM);
  twice(EOC);
  return pairs;
}

/** cc_data() (A/53 Part 4 6.2.3.1) with one field-1 608 pair (cc_type 0), parity applied; null = padding. */
export function ccData(pair: [number, number] | null): number[] {
  const [a, b] = pair ? [oddParity(pair[0]), oddParity(pair[1])] : [0x80, 0x80];
  // process_em_data_flag 0, process_cc_data_flag 1, additional_data_flag 0, cc_count 1; em_data 0xFF;
  // marker_bits 11111, cc_valid 1, cc_type 00; then marker_bits 0xFF.
  return [0x40 | 1, 0xff, 0xfc, a, b, 0xff];
}

/** An SEI NAL unit (with start code) carrying one user_data_registered_itu_t_t35 message with cc_data. */
export function captionSei(pair: [number, number] | null): Uint8Array {
  const payload = [0xb5, 0x00, 0x31, 0x47, 0x41, 0x39, 0x34, 0x03, ...ccData(pair)];
  const rbsp = [0x06 /* nal_unit_type 6 */, 0x04 /* payloadType 4 */, payload.length, ...payload, 0x80];
  // Emulation prevention: no 0x000000..0x000003 inside the NAL unit.
  const nal: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      nal.push(0x03);
      zeros = 0;
    }
    nal.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from([0, 0, 0, 1, ...nal]);
}

/** Offsets of the NAL units of an Annex-B stream: [start of start code, start of NAL header]. */
function nalUnits(data: Uint8Array): Array<{ at: number; header: number }> {
  const out: Array<{ at: number; header: number }> = [];
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0) {
      if (data[i + 2] === 1) {
        const at = i > 0 && data[i - 1] === 0 ? i - 1 : i;
        out.push({ at, header: i + 3 });
        i += 2;
      }
    }
  }
  return out;
}

/**
 * The stream with a caption SEI before the first slice of every picture (a slice NAL, type 1 or 5, whose
 * first_mb_in_slice is 0: its first bit after the header is 1). captionAt(picture) gives that picture's pair.
 */
export function insertCaptions(
  data: Uint8Array,
  captionAt: (picture: number) => [number, number] | null,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  let last = 0;
  let picture = 0;
  for (const { at, header } of nalUnits(data)) {
    const type = data[header]! & 0x1f;
    if ((type === 1 || type === 5) && (data[header + 1]! & 0x80) !== 0) {
      chunks.push(data.subarray(last, at), captionSei(captionAt(picture++)));
      last = at;
    }
  }
  chunks.push(data.subarray(last));
  return Buffer.concat(chunks);
}

/** Picture n's pair: caption k starts at picture k * perCaption; its pairs follow one per picture. */
export function captionSchedule(
  texts: string[],
  perCaption: number,
): (picture: number) => [number, number] | null {
  const sequences = texts.map(popOnPairs);
  return (picture) => {
    const k = Math.floor(picture / perCaption) % Math.max(1, sequences.length);
    const seq = sequences[k];
    return seq?.[picture % perCaption] ?? null;
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output, fps, secPerCaption, ...texts] = process.argv.slice(2);
  if (!input || !output || !fps || !secPerCaption || texts.length === 0) {
    console.error('usage: cea608.ts IN.h264 OUT.h264 FPS SECONDS_PER_CAPTION TEXT...');
    process.exit(2);
  }
  const perCaption = Math.round(Number(fps) * Number(secPerCaption));
  const out = insertCaptions(readFileSync(input), captionSchedule(texts, perCaption));
  writeFileSync(output, out);
}
