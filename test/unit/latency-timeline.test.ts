import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MemoryEventBus } from '../../src/store/memory/index.js';
import { EventTap, ProcessSampler, roleOf, stallContext, timeline } from '../../tools/latency/timeline.js';

const T0 = 1_795_000_000_000;

describe('bench:latency timeline', () => {
  it('the event tap hears part and manifest announcements of its stream only', async () => {
    const bus = new MemoryEventBus();
    const tap = new EventTap(bus, 'lat');
    await tap.start();
    await bus.publish({ t: 'part', s: 'lat', r: '360p', msn: 5, i: 2 });
    await bus.publish({ t: 'part', s: 'other', r: '360p', msn: 5, i: 3 });
    await bus.publish({ t: 'manifest', s: 'lat', v: 1, pos: { '360p': { msn: 5, part: 2 } } });
    await new Promise((r) => setTimeout(r, 10));
    tap.stop();
    await bus.publish({ t: 'part', s: 'lat', r: '360p', msn: 5, i: 3 });
    await new Promise((r) => setTimeout(r, 10));
    expect(tap.events.map((e) => e.t)).toEqual(['part', 'manifest']);
    expect(tap.events[0]).toMatchObject({ r: '360p', msn: 5, i: 2 });
  });

  it('ingest lag is the lateness above the best part; manifest lag is the first manifest listing the part', () => {
    const tap = new EventTap(new MemoryEventBus(), 'lat');
    // Parts of 200 ms in 2 s segments: msn 10 part 3 announced 500 ms late, the next two catching up (300, 100).
    const lateBy: Record<number, number> = { 3: 500, 4: 300, 5: 100 };
    for (let k = 0; k < 15; k++) {
      const msn = 10 + Math.floor(k / 10);
      const i = k % 10;
      const at = T0 + (k + 1) * 200 + (msn === 10 ? (lateBy[i] ?? 0) : 0);
      tap.events.push({ atMs: at, t: 'part', r: '360p', msn, i });
      // The manifest listing each part 30 ms after it; the last one's 400 ms after.
      tap.events.push({ atMs: at + (k === 14 ? 400 : 30), t: 'manifest', pos: { '360p': { msn, part: i } } });
    }
    tap.events.sort((a, b) => a.atMs - b.atMs);
    const lags = tap.lags('360p', 2, 0.2);
    expect(lags).toHaveLength(15);
    expect(lags.map((l) => l.ingestLagMs)).toEqual([0, 0, 0, 500, 300, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(lags.map((l) => l.manifestLagMs)).toEqual([...Array(14).fill(30), 400]);
  });

  it('a stall is described by what happened in the seconds before it, not after', () => {
    const sampler = new ProcessSampler();
    sampler.points.push(
      { atMs: T0 + 1000, load1: 3, cores: { 'transcoder-ffmpeg': 0.4, chromium: 0.3 } },
      { atMs: T0 + 2000, load1: 7, cores: { 'transcoder-ffmpeg': 0.2, chromium: 0.5 } },
      { atMs: T0 + 30_000, load1: 12, cores: { 'transcoder-ffmpeg': 0.9 } },
    );
    const [s] = stallContext([{ atMs: T0 + 5000, ms: 1200 }], {
      originSamples: [
        { atMs: T0 + 4000, latencyMs: 3000 },
        { atMs: T0 + 20_000, latencyMs: 9000 },
      ],
      lags: [
        { atMs: T0 + 4500, ingestLagMs: 2500, manifestLagMs: 40 },
        { atMs: T0 + 25_000, ingestLagMs: 8000 },
      ],
      cpu: sampler,
      playerEvents: [
        { atMs: T0 + 5000, what: 'waiting' },
        { atMs: T0 + 40_000, what: 'later' },
      ],
      t0: T0,
    });
    expect(s).toMatchObject({
      atSec: 5,
      ms: 1200,
      originAvailabilityMaxMs: 3000,
      ingestLagMaxMs: 2500,
      manifestLagMaxMs: 40,
      load1Max: 7,
      coresMean: { 'transcoder-ffmpeg': 0.3, chromium: 0.4 },
      playerEvents: ['5s waiting'],
    });
  });

  it('the timeline buckets each series by max or mean', () => {
    const rows = timeline(T0, T0 + 4000, 2000, {
      a: {
        points: [
          { atMs: T0 + 100, v: 1 },
          { atMs: T0 + 1900, v: 5 },
          { atMs: T0 + 2500, v: 2 },
        ],
        agg: 'max',
      },
      b: {
        points: [
          { atMs: T0 + 100, v: 10 },
          { atMs: T0 + 200, v: 20 },
        ],
        agg: 'mean',
      },
    });
    expect(rows).toEqual([
      { tSec: 0, a: 5, b: 15 },
      { tSec: 2, a: 2, b: undefined },
    ]);
  });

  it('roles come from the command line', () => {
    expect(roleOf('ffmpeg', 'ffmpeg -i pipe:0 -vf scale=320:180,format=gray -f rawvideo pipe:1', false)).toBe(
      'probe-decoders',
    );
    expect(roleOf('ffmpeg', 'ffmpeg -f rawvideo -i pipe:0 -f s16le -i pipe:3 -f flv rtmp://x', false)).toBe(
      'source-ffmpeg',
    );
    expect(roleOf('ffmpeg', 'ffmpeg -f flv -i pipe:0 -filter_complex x pipe:3', false)).toBe(
      'transcoder-ffmpeg',
    );
    expect(roleOf('chromium', '/usr/lib/chromium/chromium --type=renderer', false)).toBe('chromium');
    expect(roleOf('node', 'node x', true)).toMatch(/^bench-node/);
  });

  it('the sampler sees a busy child process use about a core', async () => {
    const sampler = new ProcessSampler(process.pid, 250);
    sampler.start();
    const child = spawn(process.execPath, ['-e', 'const e = Date.now() + 2000; while (Date.now() < e);']);
    await new Promise((r) => child.on('exit', r));
    sampler.stop();
    const busiest = Math.max(...sampler.points.map((p) => p.cores['node-other'] ?? 0));
    expect(busiest).toBeGreaterThan(0.3);
    expect(sampler.summary().samples).toBeGreaterThan(3);
  }, 20_000);
});
