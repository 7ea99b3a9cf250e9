/**
 * manifestDependencies is honest: over every fixture scenario, chunk by chunk (and with the clock now keeping up,
 * now a segment behind), a file whose dependency key did not change renders to the same body (MPD@publishTime
 * aside), so the renderer may skip it. And the keys do save work: the multivariant playlist, the MPDs and the
 * DVR playlists change about once per segment, not once per part.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestDependencies, manifestName, renderManifestSet } from '../../src/core/index.js';
import { fixturePath } from '../support/fixtures.js';
import { type Scenario, newestMediaEndMs, scenarioInput, scenarioSteps } from '../support/scenario.js';

const root = fixturePath('manifests');
const withoutPublishTime = (body: string): string => body.replace(/ publishTime="[^"]*"/, '');

describe.each(readdirSync(root))('scenario %s, rendered chunk by chunk', (name) => {
  const sc = JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario;

  it('renders the same body whenever a file’s dependency key is unchanged, and changes keys once per segment', () => {
    const last = new Map<string, { key: string; body: string }>();
    const changes = new Map<string, number>();
    let steps = 0;
    let compared = 0;
    let behind = 0;
    for (const snaps of scenarioSteps(sc)) {
      steps++;
      // Mostly just after the newest media; every 17th step the chain lags the clock by more than a segment.
      const lagMs = steps % 17 === 0 ? sc.segmentTargetMs + 500 : 50;
      const input = scenarioInput(sc, snaps, newestMediaEndMs(snaps) + lagMs);
      if (lagMs > sc.segmentTargetMs) behind++;
      const deps = manifestDependencies(input);
      const files = new Map(renderManifestSet(input).map((f) => [f.name, f.body]));
      for (const [file, key] of deps) {
        const body = withoutPublishTime(files.get(file)!);
        const prev = last.get(file);
        if (prev && prev.key === key) {
          expect(body, `${file} at step ${steps}: same key, different body`).toBe(prev.body);
          compared++;
        } else changes.set(file, (changes.get(file) ?? 0) + 1);
        last.set(file, { key, body });
      }
    }
    expect(behind).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(steps);
    // Parts (= chunks here) per segment: each rendition completes at most chunks / that many segments.
    const segments =
      Math.max(...sc.renditions.map((r) => r.chunks.count)) / (sc.segmentTargetMs / sc.partTargetMs);
    const n = sc.renditions.length;
    for (const r of sc.renditions)
      expect(changes.get(manifestName.dvr(r.name))!, r.name).toBeLessThanOrEqual(segments + 3);
    expect(changes.get(manifestName.master)!).toBeLessThanOrEqual(n * (segments + 3));
    // The classic MPD also changes when the chain falls behind the clock and catches up (number grid or
    // SegmentTimeline, decision 007).
    expect(changes.get(manifestName.mpd)!).toBeLessThanOrEqual(n * (segments + 3) + 2 * behind);
    // The LL MPD also changes when a segment opens, and when the chain falls behind the clock and catches up.
    expect(changes.get(manifestName.mpdLowLatency)!).toBeLessThanOrEqual(2 * n * (segments + 3) + 2 * behind);
    expect(changes.get(manifestName.mpdLowLatency)!).toBeLessThan(steps);
  });
});
