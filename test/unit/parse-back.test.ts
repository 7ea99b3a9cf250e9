/**
 * Every manifest we render, read back the way players' libraries read it (m3u8-parser, mpd-parser) and
 * checked field by field against the timeline it came from.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import {
  type TimelineSnapshot,
  lastPosition,
  liveWindow,
  manifestName,
  measureBitrate,
  renderManifestSet,
} from '../../src/core/index.js';
import { fixturePath } from '../support/fixtures.js';
import {
  type Scenario,
  newestMediaEndMs,
  renderScenario,
  runScenario,
  scenarioInput,
} from '../support/scenario.js';

const root = fixturePath('manifests');
const scenarios = readdirSync(root).map((name) => ({
  name,
  sc: JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario,
}));

function m3u8(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest;
}

const seconds = (ticks: number, ts: number): number => ticks / ts;

/**
 * Whether the representation's SegmentTemplate in the live (last) period uses number-based addressing
 * (@duration, no SegmentTimeline).
 */
function numberBased(mpd: string, representation: string): boolean {
  const all = [
    ...mpd.matchAll(new RegExp(`<Representation id="${representation}"[\\s\\S]*?</Representation>`, 'g')),
  ];
  const m = all[all.length - 1];
  return Boolean(m && /<SegmentTemplate [^>]*duration="\d+"/.test(m[0]) && !m[0].includes('SegmentTimeline'));
}

/** One file of a scenario, rendered by the production renderer at `nowMs`. */
function renderOne(sc: Scenario, snaps: Map<string, TimelineSnapshot>, name: string, nowMs: number): string {
  const [f] = renderManifestSet({ ...scenarioInput(sc, snaps, nowMs), only: new Set([name]) });
  return f!.body;
}

describe.each(scenarios)('scenario $name read back by m3u8-parser and mpd-parser', ({ sc }) => {
  const snaps = runScenario(sc);
  const rendered = renderScenario(sc, snaps);
  const files = Object.fromEntries([...rendered].map(([name, f]) => [name, f.body]));

  it('multivariant playlist: one variant per video rendition with measured bandwidth, codecs and audio group', () => {
    const m = m3u8(files[manifestName.master]!);
    const videos = sc.renditions.filter((r) => r.kind === 'video');
    const audio = sc.renditions.find((r) => r.kind === 'audio');
    expect(m.playlists).toHaveLength(videos.length || 1);
    for (const v of videos) {
      const pl = m.playlists.find((p: { uri: string }) => p.uri === `${v.name}/index.m3u8`);
      const rate = measureBitrate(snaps.get(v.name)!)!;
      const audioRate = audio ? measureBitrate(snaps.get(audio.name)!)! : { peak: 0, average: 0 };
      expect(pl.attributes.BANDWIDTH).toBe(rate.peak + audioRate.peak);
      expect(Number(pl.attributes['AVERAGE-BANDWIDTH'])).toBe(rate.average + audioRate.average);
      expect(pl.attributes.CODECS).toBe(audio ? `${v.codec},${audio.codec}` : v.codec);
      expect(pl.attributes.RESOLUTION).toEqual({ width: v.width, height: v.height });
      expect(pl.attributes['FRAME-RATE']).toBeCloseTo(v.frameRate!, 3);
      if (audio) expect(pl.attributes.AUDIO).toBe('audio');
    }
    if (audio && videos.length)
      expect(m.mediaGroups.AUDIO.audio[audio.name].uri).toBe(`${audio.name}/index.m3u8`);
  });

  for (const r of sc.renditions) {
    const snap = snaps.get(r.name)!;
    const ts = snap.timescale;
    const window = liveWindow(snap, (sc.windowMs * ts) / 1000);
    const dvrWindow = liveWindow(snap, (sc.dvrWindowMs * ts) / 1000);

    it(`${r.name}: DVR playlist segments, sequence numbers and durations match the timeline`, () => {
      const window = dvrWindow;
      const m = m3u8(files[manifestName.dvr(r.name)]!);
      expect(m.mediaSequence).toBe(window[0]!.msn);
      expect(m.discontinuitySequence).toBe(window[0]!.discontinuitySeq);
      expect(m.segments).toHaveLength(window.length);
      m.segments.forEach(
        (
          s: {
            uri: string;
            duration: number;
            discontinuity?: boolean;
            map: { uri: string };
            timeline: number;
          },
          i: number,
        ) => {
          const e = window[i]!;
          expect(s.uri).toBe(`seg-${e.msn}.m4s`);
          expect(s.duration).toBeCloseTo(seconds(e.durationTicks, ts), 5);
          expect(Math.round(s.duration)).toBeLessThanOrEqual(m.targetDuration);
          expect(Boolean(s.discontinuity)).toBe(i > 0 && e.discontinuity);
          expect(s.timeline).toBe(e.discontinuitySeq);
          expect(s.map.uri).toBe(`init-${e.initId}.mp4`);
        },
      );
      expect(m.segments[0].programDateTime).toBe(window[0]!.wallClockMs);
      const total = m.segments.reduce((n: number, s: { duration: number }) => n + s.duration, 0);
      expect(total).toBeCloseTo(
        seconds(
          window.reduce((n, e) => n + e.durationTicks, 0),
          ts,
        ),
        4,
      );
      expect(Boolean(m.endList)).toBe(Boolean(sc.end));
      expect(m.targetDuration).toBe(rendered.get(manifestName.dvr(r.name))!.targetSec);
    });

    it(`${r.name}: LL-HLS playlist has server control, parts summing to segments, a preload hint and reports`, () => {
      const m = m3u8(files[manifestName.media(r.name)]!);
      const f = rendered.get(manifestName.media(r.name))!;
      expect(m.targetDuration).toBe(f.targetSec);
      expect({ msn: f.msn, part: f.part }).toEqual(lastPosition(snap) ?? { msn: -1, part: -1 });
      expect(m.segments.length).toBeGreaterThanOrEqual(window.length);
      const partTarget = seconds(snap.partTargetTicks, ts);
      expect(m.partInf.partTarget).toBeCloseTo(partTarget, 3);
      expect(m.serverControl.canBlockReload).toBe(true);
      expect(m.serverControl.partHoldBack).toBeGreaterThanOrEqual(3 * partTarget - 1e-9);
      expect(m.serverControl.holdBack).toBeGreaterThanOrEqual(3 * m.targetDuration);
      let withParts = 0;
      for (const s of m.segments as Array<{
        uri: string;
        duration: number;
        parts?: Array<{ duration: number; uri: string; independent?: boolean }>;
      }>) {
        if (!s.parts) continue;
        withParts++;
        const sum = s.parts.reduce((n, p) => n + p.duration, 0);
        expect(sum).toBeCloseTo(s.duration, 4);
        const msn = Number(/seg-(\d+)/.exec(s.uri)![1]);
        s.parts.forEach((p, i) => {
          expect(p.uri).toBe(`part-${msn}.${i}.m4s`);
          expect(p.duration).toBeLessThanOrEqual(partTarget + 1e-9);
        });
      }
      if (!sc.end) {
        expect(withParts).toBeGreaterThan(0);
        const pos = lastPosition(snap)!;
        const hint = m.preloadSegment.preloadHints[0];
        expect(hint.type).toBe('PART');
        expect(hint.uri).toBe(
          snap.open ? `part-${snap.open.msn}.${snap.open.parts.length}.m4s` : `part-${pos.msn + 1}.0.m4s`,
        );
        expect(m.renditionReports ?? []).toHaveLength(sc.renditions.length - 1);
      } else {
        expect(m.preloadSegment).toBeUndefined();
      }
    });

    it(`${r.name}: the delta update skips only what lies beyond CAN-SKIP-UNTIL and names the same segments`, () => {
      const full = m3u8(files[manifestName.media(r.name)]!);
      const delta = m3u8(files[manifestName.mediaSkip(r.name)]!);
      const skipped = delta.skip?.skippedSegments ?? 0;
      expect(delta.mediaSequence).toBe(full.mediaSequence);
      expect(skipped + delta.segments.length).toBe(full.segments.length);
      expect(delta.segments.map((s: { uri: string }) => s.uri)).toEqual(
        full.segments.slice(skipped).map((s: { uri: string }) => s.uri),
      );
      if (skipped > 0) {
        expect(delta.version).toBeGreaterThanOrEqual(9);
        const kept = delta.segments.reduce((n: number, s: { duration: number }) => n + s.duration, 0);
        expect(kept + seconds(snap.open?.durationTicks ?? 0, ts)).toBeGreaterThanOrEqual(
          full.serverControl.canSkipUntil - 1e-6,
        );
      }
    });
  }

  for (const lowLatency of [false, true]) {
    it(`${lowLatency ? 'LL-DASH' : 'DASH'} MPD names the same media as HLS, at the same times`, () => {
      const text = files[lowLatency ? manifestName.mpdLowLatency : manifestName.mpd]!;
      // Presentation times count from availabilityStartTime (decision 004).
      const astMs = Date.parse(/availabilityStartTime="([^"]+)"/.exec(text)![1]!);
      // A player reading the MPD just after the newest part landed (number-based templates are read by clock).
      const now = newestMediaEndMs(snaps);
      type Pl = {
        attributes: { NAME: string; BANDWIDTH: number; CODECS: string };
        segments: Array<{ uri: string; duration: number; presentationTime: number; map: { uri: string } }>;
      };
      const parseAt = (at: number): Pl[] => {
        const parsed = parseMpd(text, {
          manifestUri: 'http://cdn.test/live/s/manifest.mpd',
          NOW: at,
          clientOffset: 0,
        });
        return [
          ...parsed.playlists,
          ...Object.values(parsed.mediaGroups.AUDIO?.audio ?? {}).flatMap(
            (g) => (g as { playlists: unknown[] }).playlists,
          ),
        ] as Pl[];
      };
      // An explicit timeline lists the same segments whenever it is read; a number grid is read by the clock.
      const all = parseAt(sc.wallClockStartMs + 3_600_000);
      const live = parseAt(now);
      expect(all).toHaveLength(sc.renditions.length);
      for (const r of sc.renditions) {
        const snap: TimelineSnapshot = snaps.get(r.name)!;
        const listed = all.find((p) => p.attributes.NAME === r.name)!;
        expect(listed.attributes.CODECS).toBe(r.codec);
        const window = liveWindow(snap, (sc.windowMs * snap.timescale) / 1000);
        const expected = lowLatency && snap.open ? [...window, snap.open] : window;
        const grid = numberBased(text, r.name);
        const pl = grid ? live.find((p) => p.attributes.NAME === r.name)! : listed;
        if (!grid) {
          expect(pl.segments.map((s) => s.uri)).toEqual(expected.map((e) => `${r.name}/seg-${e.msn}.m4s`));
        } else {
          // Number-based: the player derives the names from its clock. Every segment it derives that exists must
          // be ours at our time; the segments within the time-shift window must all be derivable, the open one too.
          const byUri = new Map(expected.map((e) => [`${r.name}/seg-${e.msn}.m4s`, e]));
          const derived = pl.segments.filter((s) => byUri.has(s.uri));
          const inDepth = expected.filter(
            (e) => e.wallClockMs + (e.durationTicks * 1000) / snap.timescale > now - sc.windowMs,
          );
          expect(derived.map((s) => s.uri)).toEqual(
            expected
              .filter((e) => derived.some((s) => s.uri === `${r.name}/seg-${e.msn}.m4s`))
              .map((e) => `${r.name}/seg-${e.msn}.m4s`),
          );
          // Every complete segment still inside the time-shift window is derivable at `now`.
          for (const e of inDepth.filter((x) => x !== snap.open))
            expect(derived.map((x) => x.uri)).toContain(`${r.name}/seg-${e.msn}.m4s`);
          if (snap.open) {
            // The open segment: derivable once its nominal end has passed (mpd-parser ignores the offset).
            const end = snap.open.wallClockMs + (snap.segmentTargetTicks * 1000) / snap.timescale;
            const later = parseAt(end + 1).find((x) => x.attributes.NAME === r.name)!;
            const seg = later.segments.find((x) => x.uri === `${r.name}/seg-${snap.open!.msn}.m4s`);
            expect(seg).toBeDefined();
            const tol = r.kind === 'video' ? 2 : (snap.partTargetTicks * 1000) / snap.timescale;
            expect(
              Math.abs(astMs + seg!.presentationTime * 1000 - snap.open.wallClockMs),
            ).toBeLessThanOrEqual(tol);
          }
        }
        const partMs = (snap.partTargetTicks * 1000) / snap.timescale;
        for (const s of pl.segments) {
          const e = expected.find((x) => s.uri === `${r.name}/seg-${x.msn}.m4s`);
          if (!e) continue;
          expect(s.map.uri).toBe(`${r.name}/init-${e.initId}.mp4`);
          if (!grid && e !== snap.open) expect(s.duration).toBeCloseTo(e.durationTicks / snap.timescale, 5);
          // Presentation time on the wall clock (AST + presentation time) matches EXT-X-PROGRAM-DATE-TIME within a tick;
          // on a number grid, within the grid's tolerance (exact for aligned video, a part for audio).
          const tolerance = grid ? (r.kind === 'video' ? 2 : partMs) : 2;
          expect(Math.abs(astMs + s.presentationTime * 1000 - e.wallClockMs)).toBeLessThanOrEqual(tolerance);
        }
      }
      expect(text).toContain(lowLatency ? 'availabilityTimeComplete="false"' : 'type=');
      if (lowLatency) expect(text).toMatch(/<Latency referenceId="0" target="\d+"/);
    });
  }
});

// Both MPDs (decision 007: the classic one too, so that GStreamer's dashdemux2 can follow it live).
describe.each([manifestName.mpdLowLatency, manifestName.mpd])('%s addressing', (file) => {
  const sc = scenarios.find((x) => x.name === 'ladder-ll')!.sc;
  const snaps = runScenario(sc);
  const now = newestMediaEndMs(snaps);

  it('is number-based while the chain keeps up with the wall clock', () => {
    const text = renderOne(sc, snaps, file, now + 100);
    for (const r of sc.renditions) expect(numberBased(text, r.name)).toBe(true);
    expect(text).not.toContain('<SegmentTimeline>');
  });

  it('lists what exists (SegmentTimeline) once the newest media is more than a segment behind the clock', () => {
    const text = renderOne(sc, snaps, file, now + sc.segmentTargetMs + 500);
    for (const r of sc.renditions) expect(numberBased(text, r.name)).toBe(false);
    expect(text).toContain('<SegmentTimeline>');
  });
});

describe('classic MPD addressing', () => {
  it('an ended stream keeps exact SegmentTimelines (static MPD)', () => {
    const sc = scenarios.find((x) => x.name === 'ended')!.sc;
    const snaps = runScenario(sc);
    const text = renderOne(sc, snaps, manifestName.mpd, newestMediaEndMs(snaps) + 100);
    expect(text).toContain('type="static"');
    for (const r of sc.renditions) expect(numberBased(text, r.name)).toBe(false);
  });
});
