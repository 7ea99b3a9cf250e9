import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DvrSegment } from '../../src/core/index.js';

export const fixturePath = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
export const readFixture = (name: string): Uint8Array => new Uint8Array(readFileSync(fixturePath(name)));

/** A synthetic DVR archive (bench:dvr, the time-shift reader test): where its segments start and what they are. */
export interface ArchiveShape {
  /** Wall clock of msn 0 (Unix ms). */
  t0: number;
  timescale: number;
  segmentTicks: number;
  /** The msn at which the encoder reconnected: a new init and a new period, `gapMs` after the old one's end. */
  disc: number;
  gapMs: number;
  byteLength: (msn: number) => number;
}

/** Segment `msn` of a synthetic archive: every segment full length and independent, one discontinuity. */
export function archiveSegment(msn: number, a: ArchiveShape): DvrSegment {
  const after = msn >= a.disc;
  const periodStartTicks = after ? a.disc * a.segmentTicks : 0;
  const periodWallClockMs = after ? a.t0 + (periodStartTicks * 1000) / a.timescale + a.gapMs : a.t0;
  return {
    msn,
    discontinuitySeq: after ? 1 : 0,
    discontinuity: msn === a.disc,
    initId: after ? 1 : 0,
    startTicks: msn * a.segmentTicks,
    durationTicks: a.segmentTicks,
    independent: true,
    byteLength: a.byteLength(msn),
    wallClockMs: periodWallClockMs + ((msn * a.segmentTicks - periodStartTicks) * 1000) / a.timescale,
    periodStartTicks,
    periodWallClockMs,
  };
}
