/**
 * Golden DVR outputs (issue #11): a 250-segment DVR timeline with a discontinuity (new init, period anchored
 * later) rendered as the DVR playlist, a start-over and a catch-up playlist (DvrPlaylistRenderer, chunks of 100),
 * a live DVR MPD and a static catch-up MPD (buildDvrMpd), compared exactly with fixtures/dvr/expected/. Regenerate
 * with UPDATE_GOLDEN=1 npx vitest run test/unit/dvr-golden.test.ts, then review the diff like code.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DvrSegment,
  DvrPlaylistRenderer,
  buildDvrMpd,
  dvrView,
  renderMpd,
  type RenditionDescription,
} from '../../src/core/index.js';
import { fixturePath } from '../support/fixtures.js';

const TS = 90_000;
const SEG = 180_000;
const T0 = Date.UTC(2026, 10, 30, 6, 0, 0, 0);
const DISC = 160;

function segment(msn: number): DvrSegment {
  const after = msn >= DISC;
  const periodStartTicks = after ? DISC * SEG : 0;
  const periodWallClockMs = after ? T0 + DISC * 2000 + 4321 : T0;
  return {
    msn: 1000 + msn,
    discontinuitySeq: after ? 3 : 2,
    discontinuity: msn === DISC,
    initId: after ? 5 : 4,
    startTicks: msn * SEG,
    durationTicks: SEG,
    independent: true,
    byteLength: 200_000 + msn,
    wallClockMs: periodWallClockMs + ((msn * SEG - periodStartTicks) * 1000) / TS,
    periodStartTicks,
    periodWallClockMs,
  };
}
const ALL = Array.from({ length: 250 }, (_, i) => segment(i));
const VIDEO: RenditionDescription = {
  name: '360p',
  kind: 'video',
  codec: 'avc1.64001e',
  timescale: TS,
  width: 640,
  height: 360,
  frameRate: 30,
  nominalBitrate: 700_000,
  segmentTargetTicks: SEG,
  partTargetTicks: 18_000,
  order: 0,
};
const NOW = ALL[ALL.length - 1]!.wallClockMs + 2500;

function outputs(): Map<string, string> {
  const r = new DvrPlaylistRenderer();
  const playlist = (segments: DvrSegment[], ended: boolean, type?: 'EVENT' | 'VOD'): string =>
    r.render({ timescale: TS, segmentTargetTicks: SEG, segments, ended, playlistType: type });
  const mpd = (segments: DvrSegment[], windowMs: number, ended: boolean): string =>
    renderMpd(
      buildDvrMpd([{ description: VIDEO, partTargetTicks: 18_000, bandwidth: 812_345, segments }], {
        publishTimeMs: NOW,
        windowMs,
        utcTimingUrl: '/time',
        ended,
      }),
    );
  const window = dvrView(ALL, { windowMs: 400_000, timescale: TS });
  const startOver = dvrView(ALL, { windowMs: 0, timescale: TS, fromMs: ALL[120]!.wallClockMs - 500 });
  const catchUp = dvrView(ALL, {
    windowMs: 0,
    timescale: TS,
    fromMs: ALL[150]!.wallClockMs,
    toMs: ALL[170]!.wallClockMs,
  });
  return new Map([
    ['dvr.m3u8', playlist(window, false)],
    ['startover.m3u8', playlist(startOver, false, 'EVENT')],
    ['catchup.m3u8', playlist(catchUp, true, 'VOD')],
    ['dvr.mpd', mpd(window, 400_000, false)],
    ['catchup.mpd', mpd(catchUp, 40_000, true)],
  ]);
}

describe('golden DVR outputs', () => {
  const dir = join(fixturePath('dvr'), 'expected');
  for (const [file, body] of outputs()) {
    it(`${file} is rendered exactly as expected`, () => {
      if (process.env.UPDATE_GOLDEN === '1') {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, file), body);
      }
      expect(body).toBe(readFileSync(join(dir, file), 'utf8'));
    });
  }
});
