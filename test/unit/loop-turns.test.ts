/** tools/load/loop-turns(-summary).ts and alloc-profile.ts: what the preloads record, read back and summarized. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schedstat } from '../../tools/load/loop-turns.js';
import { topAllocators } from '../../tools/load/alloc-profile.js';
import { parseTurns, summarizeTurns } from '../../tools/load/loop-turns-summary.js';

describe('loop-turns', () => {
  it('reads schedstat as on-CPU and waiting ns', () => {
    expect(schedstat('805506 1200 1\n')).toEqual([805506, 1200]);
  });

  it('parses turns and GC pauses onto the epoch and places each pause in its turn', () => {
    const text = [
      JSON.stringify({ timeOrigin: 1_000_000 }),
      JSON.stringify({
        turns: [
          [100, 5, 4, 1, 10],
          [105, 150, 90, 60, 2000],
          [255, 20, 12, 8, 300],
        ],
      }),
      JSON.stringify({
        gc: [
          [110, 12, 'minor'],
          [200, 30, 'minor'],
          [260, 3, 'minor'],
          [400, 1, 'minor'],
        ],
      }),
      '',
    ].join('\n');
    const { turns, gcs } = parseTurns(text);
    expect(turns[1]).toEqual({ start: 1_000_105, wall: 150, cpu: 90, wait: 60, requests: 2000 });
    expect(gcs[0]).toEqual({ start: 1_000_110, ms: 12, kind: 'minor' });
    const s = summarizeTurns(turns, gcs);
    expect(s.turns).toBe(3);
    expect(s.requests).toBe(2310);
    expect(s.wallMs.max).toBe(150);
    // The pause at 400 is after every turn: not counted.
    expect(s.gcMsInTurns).toBe(45);
    const long = s.bands.find((b) => b.wallMs === '100-200');
    expect(long).toMatchObject({ turns: 1, meanRequests: 2000, meanCpuMs: 90, meanWaitMs: 60, meanGcMs: 42 });
    expect(long?.cpuUsPerRequest).toBe(45);
    expect(long?.shareOfTurnTime).toBeCloseTo(150 / 175, 3);
    expect(s.bands.find((b) => b.wallMs === '10-50')).toMatchObject({ turns: 1, meanGcMs: 3 });
    expect(s.bands.find((b) => b.wallMs === '>=200')?.turns).toBe(0);
  });
});

describe('alloc-profile', () => {
  it('ranks functions by the bytes they allocated themselves, summed over call sites', () => {
    const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
    const head = {
      callFrame: frame('(root)'),
      selfSize: 0,
      children: [
        {
          callFrame: frame('serve', 'file:///w/src/reader/reader.ts', 9),
          selfSize: 300,
          children: [
            { callFrame: frame('get', 'file:///w/src/reader/media.ts', 4), selfSize: 100, children: [] },
          ],
        },
        { callFrame: frame('get', 'file:///w/src/reader/media.ts', 4), selfSize: 500, children: [] },
        { callFrame: frame(''), selfSize: 100, children: [] },
      ],
    };
    expect(topAllocators(head, 2)).toEqual([
      { fn: 'get src/reader/media.ts:5', mb: 0, share: 0.6 },
      { fn: 'serve src/reader/reader.ts:10', mb: 0, share: 0.3 },
    ]);
  });
});

describe('loop-turns recorder', () => {
  it('records a real process: its turns with the HTTP requests they started, and GC pauses by kind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loop-turns-'));
    const out = join(dir, 'turns.jsonl');
    try {
      const script = `
        const http = require('node:http');
        const s = http.createServer((q, r) => r.end('x')).listen(0, '127.0.0.1', async () => {
          const url = 'http://127.0.0.1:' + s.address().port + '/';
          for (let i = 0; i < 30; i++) await (await fetch(url)).text();
          globalThis.gc();
          let keep = 0;
          for (let i = 0; i < 2_000_000; i++) keep += { i }.i;
          setTimeout(() => s.close(() => process.exit(keep > 0 ? 0 : 1)), 100);
        });`;
      const r = spawnSync(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', '--import', './tools/load/loop-turns.ts', '-e', script],
        { env: { ...process.env, LOOP_TURNS_OUT: out }, encoding: 'utf8', timeout: 30_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const { turns, gcs } = parseTurns(readFileSync(out, 'utf8'));
      expect(turns.reduce((n, t) => n + t.requests, 0)).toBe(30);
      for (const t of turns) expect(t.wall).toBeGreaterThanOrEqual(0);
      // gc() is a full mark-compact; the allocations make scavenges.
      expect(gcs.some((g) => g.kind === 'major')).toBe(true);
      expect(gcs.some((g) => g.kind === 'minor')).toBe(true);
      expect(gcs.every((g) => ['major', 'minor', 'incremental', 'weakcb'].includes(g.kind))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
