/**
 * The MPD's anchor (docs/decisions/004-mpd-anchor.md), read back from the rendered MPDs' own fields: the live
 * segment a client computes from availabilityStartTime, Period@start, startNumber and the segment duration is the
 * newest segment - by the standard's formula, and by the formula of clients that ignore Period@start (ffmpeg 5.1's
 * dashdec: startNumber + (now - availabilityStartTime) / duration) - for every live fixture scenario, including one
 * with a discontinuity; and the anchor stays put while the stream runs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { liveSegmentNumber, manifestName, mpdAnchorMs } from '../../src/core/index.js';
import type { TimelineSnapshot } from '../../src/core/index.js';
import { fixturePath } from '../support/fixtures.js';
import { type Scenario, renderScenario, runScenario, scenarioSteps } from '../support/scenario.js';

interface ParsedTemplate {
  rendition: string;
  timescale: number;
  startNumber: number;
  pto: number;
  durationTicks?: number;
  /** SegmentTimeline, expanded: each segment's t. */
  starts: number[];
}
interface ParsedPeriod {
  id: string;
  startMs: number;
  templates: ParsedTemplate[];
}
interface ParsedMpd {
  type: string;
  availabilityStartTimeMs: number;
  periods: ParsedPeriod[];
}

const attr = (el: string, name: string): string | undefined =>
  new RegExp(`\\s${name}="([^"]*)"`).exec(el)?.[1];
const num = (el: string, name: string): number => Number(attr(el, name));
const isoSeconds = (d: string): number => Number(/^PT([\d.]+)S$/.exec(d)![1]);

/** Reads back the fields a client computes segment numbers from (our renderer's output only). */
function parseMpd(text: string): ParsedMpd {
  const root = /<MPD\s[^>]*>/.exec(text)![0];
  const periods = [...text.matchAll(/<Period\s[^>]*>[\s\S]*?<\/Period>/g)].map((m) => {
    const head = /<Period\s[^>]*>/.exec(m[0])![0];
    const templates = [...m[0].matchAll(/<Representation\s[^>]*>[\s\S]*?<\/Representation>/g)].map((r) => {
      const rep = /<Representation\s[^>]*>/.exec(r[0])![0];
      const tpl = /<SegmentTemplate\s[^>]*>/.exec(r[0])![0];
      const starts: number[] = [];
      for (const s of r[0].matchAll(/<S\s[^>]*\/>/g)) {
        const t = num(s[0], 't');
        const d = num(s[0], 'd');
        const rep = attr(s[0], 'r') === undefined ? 0 : num(s[0], 'r');
        for (let k = 0; k <= rep; k++) starts.push(t + k * d);
      }
      return {
        rendition: attr(rep, 'id')!,
        timescale: num(tpl, 'timescale'),
        startNumber: num(tpl, 'startNumber'),
        pto: num(tpl, 'presentationTimeOffset'),
        durationTicks: attr(tpl, 'duration') === undefined ? undefined : num(tpl, 'duration'),
        starts,
      };
    });
    return { id: attr(head, 'id')!, startMs: Math.round(isoSeconds(attr(head, 'start')!) * 1000), templates };
  });
  return {
    type: attr(root, 'type')!,
    availabilityStartTimeMs: Date.parse(attr(root, 'availabilityStartTime')!),
    periods,
  };
}

/**
 * The segment number a client names at `nowMs` for a period's representation: number-based by the formula
 * (liveSegmentNumber); with a SegmentTimeline, the last listed segment that has begun by then.
 */
function liveNumber(m: ParsedMpd, p: ParsedPeriod, t: ParsedTemplate, nowMs: number, ignoreStart = false) {
  const mpd = { availabilityStartTimeMs: m.availabilityStartTimeMs };
  if (t.durationTicks !== undefined) return liveSegmentNumber(mpd, p, t, nowMs, ignoreStart);
  const sinceTicks =
    ((nowMs - m.availabilityStartTimeMs - (ignoreStart ? 0 : p.startMs)) * t.timescale) / 1000 + t.pto;
  let k = -1;
  t.starts.forEach((s, i) => {
    if (s <= sinceTicks) k = i;
  });
  return k < 0 ? undefined : t.startNumber + k;
}

function newestMsn(s: TimelineSnapshot, withOpen: boolean): number {
  if (withOpen && s.open) return s.open.msn;
  return s.segments[s.segments.length - 1]!.msn;
}

/** Wall time a little after the newest media landed (as a live render sees it). */
function nowOf(snaps: Map<string, TimelineSnapshot>): number {
  let end = 0;
  for (const s of snaps.values()) {
    const seg = s.open ?? s.segments[s.segments.length - 1];
    if (!seg) continue;
    const ticks = s.open ? s.open.parts.reduce((n, p) => n + p.durationTicks, 0) : seg.durationTicks;
    end = Math.max(end, seg.wallClockMs + (ticks * 1000) / s.timescale);
  }
  return end;
}

const root = fixturePath('manifests');
const scenarios = readdirSync(root).map((name) => ({
  name,
  sc: JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario,
}));
const live = scenarios.filter(({ sc }) => !sc.end);

describe('MPD anchor', () => {
  it('has live fixture scenarios to check, one of them with a discontinuity', () => {
    expect(live.length).toBeGreaterThanOrEqual(3);
    expect(live.some(({ sc }) => sc.renditions.some((r) => (r.discontinuitiesAt ?? []).length > 0))).toBe(
      true,
    );
  });

  for (const { name, sc } of live) {
    for (const file of [manifestName.mpdLowLatency, manifestName.mpd]) {
      it(`${name}/${file}: the live period's segment at the render time is the newest segment`, () => {
        const snaps = runScenario(sc);
        const now = nowOf(snaps);
        const m = parseMpd(renderScenario(sc, snaps, now).get(file)!.body);
        expect(m.type).toBe('dynamic');
        // The oldest listed period starts at availabilityStartTime; later ones at their own wall clock.
        expect(m.periods[0]!.startMs).toBe(0);
        const live = m.periods[m.periods.length - 1]!;
        for (const t of live.templates) {
          // By number, the segment under way at `now` is the open one (in the classic MPD too, decision 007:
          // a classic client asks for it once its end has passed); a SegmentTimeline lists what is complete.
          const want = newestMsn(
            snaps.get(t.rendition)!,
            file === manifestName.mpdLowLatency || t.durationTicks !== undefined,
          );
          expect(liveNumber(m, live, t, now), `${t.rendition}`).toBe(want);
          // Clients that ignore Period@start agree whenever the live period is the oldest listed one.
          if (m.periods.length === 1) expect(liveNumber(m, live, t, now, true), `${t.rendition}`).toBe(want);
        }
      });
    }
  }

  it('ladder-ll: the LL MPD is number-based and an ffmpeg-style client names the newest segment', () => {
    const sc = scenarios.find((s) => s.name === 'ladder-ll')!.sc;
    const snaps = runScenario(sc);
    const now = nowOf(snaps);
    const m = parseMpd(renderScenario(sc, snaps, now).get(manifestName.mpdLowLatency)!.body);
    const t = m.periods[0]!.templates.find((x) => x.rendition === '720p')!;
    expect(t.durationTicks).toBeDefined();
    // startNumber + (now - AST) / d: the anchor is the period's own wall clock, so this is the open segment.
    expect(liveSegmentNumber(m, m.periods[0]!, t, now, true)).toBe(snaps.get('720p')!.open!.msn);
    expect(m.availabilityStartTimeMs).toBe(sc.wallClockStartMs);
  });

  it('discontinuity: AST + Period@start is each period wall clock, and once the old period has left the window the live period starts at AST', () => {
    const sc = scenarios.find((s) => s.name === 'discontinuity')!.sc;
    const snaps = runScenario(sc);
    const now = nowOf(snaps);
    const full = parseMpd(renderScenario(sc, snaps, now).get(manifestName.mpdLowLatency)!.body);
    expect(full.periods.length).toBe(2);
    const periodWall = (id: string): number => {
      const d = Number(id.slice(1));
      const seg = [...snaps.get('480p')!.segments, snaps.get('480p')!.open!].find(
        (s) => s.discontinuitySeq === d,
      )!;
      return seg.periodWallClockMs;
    };
    for (const p of full.periods) expect(full.availabilityStartTimeMs + p.startMs).toBe(periodWall(p.id));
    // A window that holds only the live period: the anchor moves to it, the live period's wall clock does not.
    const short = parseMpd(
      renderScenario({ ...sc, windowMs: 4000 }, snaps, now).get(manifestName.mpdLowLatency)!.body,
    );
    expect(short.periods.map((p) => p.id)).toEqual(['p1']);
    const p1 = short.periods[0]!;
    expect(p1.startMs).toBe(0);
    expect(short.availabilityStartTimeMs).toBe(periodWall('p1'));
    for (const t of p1.templates) {
      const want = newestMsn(snaps.get(t.rendition)!, true);
      expect(liveNumber(short, p1, t, now, true), t.rendition).toBe(want);
      expect(liveNumber(short, p1, t, now), t.rendition).toBe(want);
    }
  });

  it('stays put while the stream runs: every render of a single-period stream has the same availabilityStartTime', () => {
    const sc = scenarios.find((s) => s.name === 'ladder-ll')!.sc;
    const seen = new Set<number>();
    let renders = 0;
    for (const snaps of scenarioSteps(sc)) {
      if ([...snaps.values()].some((s) => !s.open && s.segments.length === 0)) continue;
      const files = renderScenario(sc, snaps, nowOf(snaps));
      for (const f of [manifestName.mpd, manifestName.mpdLowLatency]) {
        const body = files.get(f)?.body;
        if (!body || !body.includes('<Period')) continue;
        seen.add(parseMpd(body).availabilityStartTimeMs);
        renders++;
      }
    }
    expect(renders).toBeGreaterThan(100);
    expect([...seen]).toEqual([sc.wallClockStartMs]);
  });

  it('mpdAnchorMs: the oldest period wall clock; 0 with no period', () => {
    expect(mpdAnchorMs([{ startMs: 5000 }, { startMs: 3000 }])).toBe(3000);
    expect(mpdAnchorMs([])).toBe(0);
  });
});
