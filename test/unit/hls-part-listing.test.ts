/**
 * RFC 8216bis 6.2.2: EXT-X-PART tags are removed once they are more than three target durations from the end of
 * the playlist. hls-parser (npm) in strict mode enforces it counting by segments: parts only in the playlist's
 * last three segments, the one being filled (or the preload hint's) included. Every LL media playlist the
 * production renderer produces, at every step of every fixture scenario, full and _HLS_skip delta, must parse.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as HLS from 'hls-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PART_LISTING_TARGET_DURATIONS,
  type TimelineSnapshot,
  buildMediaPlaylist,
  manifestName,
  marshalPlaylist,
  parseObjectName,
  renderManifestSet,
} from '../../src/core/index.js';
import { fixturePath } from '../support/fixtures.js';
import { type Scenario, scenarioInput, scenarioSteps } from '../support/scenario.js';

const root = fixturePath('manifests');
const scenarios = readdirSync(root).map((name) => ({
  name,
  sc: JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario,
}));

beforeAll(() => HLS.setOptions({ strictMode: true, silent: true }));
afterAll(() => HLS.setOptions({ strictMode: false }));

function strictMedia(text: string): HLS.types.MediaPlaylist {
  const p = HLS.parse(text);
  if (!(p instanceof HLS.types.MediaPlaylist)) throw new Error('not a media playlist');
  return p;
}

describe.each(scenarios)(
  'scenario $name: every LL media playlist parses with hls-parser in strict mode',
  ({ sc }) => {
    it('full and _HLS_skip delta, at every step', () => {
      const only = new Set(
        sc.renditions.flatMap((r) => [manifestName.media(r.name), manifestName.mediaSkip(r.name)]),
      );
      let checked = 0;
      let withParts = 0;
      for (const snaps of scenarioSteps(sc)) {
        for (const f of renderManifestSet({ ...scenarioInput(sc, snaps), only })) {
          let pl: HLS.types.MediaPlaylist;
          try {
            pl = strictMedia(f.body);
          } catch (err) {
            throw new Error(`${f.name}: ${(err as Error).message}\n${f.body}`);
          }
          checked++;
          if (pl.segments.some((s) => s.parts.length > 0)) withParts++;
        }
      }
      expect(checked).toBeGreaterThan(0);
      // The check is only worth something if parts are listed.
      expect(withParts).toBeGreaterThan(checked / 2);
    });
  },
);

/** A timeline of `count` complete segments of `partsPer` parts of `partTicks` each, and an open one. */
function timeline(count: number, partsPer: number, partTicks: number, openParts: number): TimelineSnapshot {
  const ts = 1000;
  const seg = (msn: number, n: number) => ({
    msn,
    discontinuitySeq: 0,
    discontinuity: false,
    initId: 0,
    startTicks: msn * partsPer * partTicks,
    durationTicks: n * partTicks,
    independent: true,
    byteLength: 100 * n,
    wallClockMs: 1_763_755_200_000 + msn * partsPer * partTicks,
    periodStartTicks: 0,
    periodWallClockMs: 1_763_755_200_000,
    parts: Array.from({ length: n }, (_, index) => ({
      msn,
      index,
      startTicks: msn * partsPer * partTicks + index * partTicks,
      durationTicks: partTicks,
      independent: index === 0,
      byteLength: 100,
    })),
  });
  return {
    timescale: ts,
    segmentTargetTicks: 2000,
    partTargetTicks: partTicks,
    segments: Array.from({ length: count }, (_, i) => seg(i, partsPer)),
    open: openParts > 0 ? seg(count, openParts) : undefined,
    ended: false,
  } as unknown as TimelineSnapshot;
}

/** The msns whose parts a playlist lists. */
function partMsns(s: TimelineSnapshot): number[] {
  const tags = buildMediaPlaylist(s, { windowTicks: 20_000, lowLatency: true });
  const msns = new Set<number>();
  for (const t of tags) {
    if (t.tag !== 'EXT-X-PART') continue;
    const ref = parseObjectName(t.uri);
    if (ref?.kind !== 'part') throw new Error(`not a part: ${t.uri}`);
    msns.add(ref.msn);
  }
  return [...msns];
}

describe('which segments list their parts', () => {
  it('parts for at most the last three segments (the open one counted), none older than three target durations', () => {
    expect(PART_LISTING_TARGET_DURATIONS).toBe(3);
    // 2 s segments of ten 200 ms parts, target 2 s: the open segment and the two complete ones before it.
    for (let open = 1; open <= 10; open++) {
      const s = timeline(10, 10, 200, open);
      expect(partMsns(s), `open segment with ${open} parts`).toEqual([8, 9, 10]);
    }
    // No open segment: the preload hint opens the next segment, which counts as one of the three.
    expect(partMsns(timeline(10, 10, 200, 0))).toEqual([8, 9]);
  });

  it('short segments: still three segments at most', () => {
    // 1 s segments under a 2 s target: three of them end well within 6 s, but strict parsers count segments.
    const s = timeline(10, 5, 200, 2);
    expect(partMsns(s)).toEqual([8, 9, 10]);
  });

  it('the rendered playlist parses with hls-parser in strict mode', () => {
    HLS.setOptions({ strictMode: true, silent: true });
    for (let open = 0; open <= 10; open++) {
      const s = timeline(10, 10, 200, open);
      const text = marshalPlaylist(buildMediaPlaylist(s, { windowTicks: 20_000, lowLatency: true }));
      expect(() => strictMedia(text), text).not.toThrow();
    }
  });
});
