/**
 * VOD manifests (issue #11): golden files fixtures/vod/<scenario>/input.json -> expected/<path>, compared exactly,
 * and parsed back with m3u8-parser and mpd-parser (the players' own parsers). Regenerate with
 * UPDATE_GOLDEN=1 npx vitest run test/unit/vod-manifests.test.ts, then review the diff like code.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import {
  type VodAsset,
  type VodSegment,
  assetDurationMs,
  renderVodManifests,
  vodTimeline,
} from '../../src/core/vod/asset.js';
import type { RenditionDescription } from '../../src/core/manifest/set.js';
import { fixturePath } from '../support/fixtures.js';

const root = fixturePath('vod');
const update = process.env.UPDATE_GOLDEN === '1';

interface Input extends Omit<VodAsset, 'renditions'> {
  renditions: Array<{ description: RenditionDescription; records: VodSegment[] }>;
}

/** The asset as the harvest builds it: records through vodTimeline (gaps become discontinuities). */
function assetOf(input: Input): VodAsset {
  const gaps: VodAsset['gaps'] = [];
  const renditions = input.renditions.map((r) => {
    const t = vodTimeline(r.description.name, r.records);
    gaps.push(...t.gaps);
    return { description: r.description, segments: t.segments };
  });
  return { ...input, renditions, gaps };
}

interface ParsedSegment {
  uri: string;
  duration: number;
  discontinuity?: boolean;
  dateTimeObject?: Date;
}

function m3u8(text: string): {
  playlistType?: string;
  endList?: boolean;
  mediaSequence?: number;
  segments: ParsedSegment[];
} {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as never;
}

const scenarios = readdirSync(root);

describe('VOD manifests', () => {
  for (const name of scenarios) {
    const input = JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Input;
    const asset = assetOf(input);
    const files = renderVodManifests(asset);

    it(`renders scenario "${name}" exactly as expected`, () => {
      const dir = join(root, name, 'expected');
      if (update) {
        rmSync(dir, { recursive: true, force: true });
        for (const f of files) {
          mkdirSync(dirname(join(dir, f.path)), { recursive: true });
          writeFileSync(join(dir, f.path), f.body);
        }
      }
      expect(existsSync(dir), `${dir} missing: run with UPDATE_GOLDEN=1`).toBe(true);
      for (const f of files)
        expect(f.body, `${name}/${f.path}`).toBe(readFileSync(join(dir, f.path), 'utf8'));
    });

    it(`scenario "${name}": media playlists parse back as VOD with every segment and the exact duration`, () => {
      for (const r of asset.renditions) {
        const body = files.find((f) => f.path === `${r.description.name}/index.m3u8`)!.body;
        const m = m3u8(body);
        expect(m.playlistType).toBe('VOD');
        expect(m.endList).toBe(true);
        expect(m.segments.map((s) => s.uri)).toEqual(r.segments.map((s) => `seg-${s.msn}.m4s`));
        const total = m.segments.reduce((n, s) => n + s.duration, 0);
        expect(total).toBeCloseTo(
          r.segments.reduce((n, s) => n + s.durationTicks, 0) / r.description.timescale,
          4,
        );
        // A discontinuity exactly where the records have a gap.
        const discAt = m.segments.flatMap((s, i) => (s.discontinuity ? [i] : []));
        expect(discAt).toEqual(r.segments.flatMap((s, i) => (s.discontinuity ? [i] : [])));
        expect(m.mediaSequence).toBe(r.segments[0]!.msn);
        if (input.programDateTime)
          expect(m.segments[0]!.dateTimeObject?.getTime()).toBe(r.segments[0]!.wallClockMs);
        else expect(body).not.toContain('PROGRAM-DATE-TIME');
      }
    });

    it(`scenario "${name}": the MPD parses back as static, its duration the asset's`, () => {
      const mpd = files.find((f) => f.path === 'manifest.mpd')!.body;
      expect(mpd).toContain('type="static"');
      expect(mpd).not.toContain('timeShiftBufferDepth');
      const parsed = parseMpd(mpd, { manifestUri: 'http://origin/vod/x/manifest.mpd' });
      expect(parsed.endList).toBe(true);
      const video = (parsed.playlists as Array<{ segments: ParsedSegment[] }>)[0]!;
      const v = asset.renditions.find((r) => r.description.kind === 'video')!;
      expect(video.segments.length).toBe(v.segments.length);
      expect(video.segments.map((s) => s.uri)).toEqual(v.segments.map((s) => `360p/seg-${s.msn}.m4s`));
      const total = video.segments.reduce((n, s) => n + s.duration, 0);
      expect(total).toBeCloseTo(assetDurationMs({ ...asset, renditions: [v] }) / 1000, 3);
    });
  }

  it('a harvested range with missing msns reports each gap once per rendition, and numbers discontinuities from 0', () => {
    const seg = (msn: number): VodSegment => ({
      msn,
      discontinuitySeq: 7,
      discontinuity: false,
      initId: 1,
      startTicks: msn * 100,
      durationTicks: 100,
      independent: true,
      byteLength: 10,
      wallClockMs: msn * 1000,
      periodStartTicks: 0,
      periodWallClockMs: 0,
    });
    const t = vodTimeline('v', [seg(3), seg(1), seg(2), seg(2), seg(6), seg(7), seg(9)]);
    expect(t.segments.map((s) => s.msn)).toEqual([1, 2, 3, 6, 7, 9]);
    expect(t.gaps).toEqual([
      { rendition: 'v', afterMsn: 3, beforeMsn: 6 },
      { rendition: 'v', afterMsn: 7, beforeMsn: 9 },
    ]);
    expect(t.segments.map((s) => s.discontinuitySeq)).toEqual([0, 0, 0, 1, 1, 2]);
    expect(t.segments.map((s) => s.discontinuity)).toEqual([false, false, false, true, false, true]);
  });
});
