/**
 * Summarizes what tools/load/loop-turns.ts recorded in a process: `npx tsx tools/load/loop-turns-summary.ts FILE
 * [FROM TO]` (FROM/TO: ISO times or epoch ms; default the whole file). Prints JSON: the turns' wall times, and per
 * band of turn length how many turns, their requests, the main thread's time on a CPU and waiting for one, and the
 * GC pauses that started in them.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export type Turn = { start: number; wall: number; cpu: number; wait: number; requests: number };
export type Gc = { start: number; ms: number; kind: string };

/** Parses the JSON lines into epoch-ms turns and GC pauses. */
export function parseTurns(text: string): { turns: Turn[]; gcs: Gc[] } {
  let origin = 0;
  const turns: Turn[] = [];
  const gcs: Gc[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as {
      timeOrigin?: number;
      turns?: number[][];
      gc?: [number, number, string][];
    };
    if (o.timeOrigin !== undefined) origin = o.timeOrigin;
    for (const [start = 0, wall = 0, cpu = 0, wait = 0, requests = 0] of o.turns ?? [])
      turns.push({ start: origin + start, wall, cpu, wait, requests });
    for (const [start, ms, kind] of o.gc ?? []) gcs.push({ start: origin + start, ms, kind });
  }
  return { turns, gcs };
}

const BANDS = [0, 10, 50, 100, 200, Infinity];

const pct = (sorted: number[], p: number): number =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN) : NaN;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export function summarizeTurns(turns: Turn[], gcs: Gc[]) {
  const byStart = [...turns].sort((a, b) => a.start - b.start);
  // GC pauses placed in the turn they started in.
  const gcIn = new Map<Turn, number>();
  let i = 0;
  for (const g of [...gcs].sort((a, b) => a.start - b.start)) {
    while (i < byStart.length && (byStart[i]?.start ?? 0) + (byStart[i]?.wall ?? 0) < g.start) i++;
    const t = byStart[i];
    if (t && t.start <= g.start) gcIn.set(t, (gcIn.get(t) ?? 0) + g.ms);
  }
  const walls = turns.map((t) => t.wall).sort((a, b) => a - b);
  const total = (f: (t: Turn) => number, ts: Turn[] = turns): number => ts.reduce((s, t) => s + f(t), 0);
  const wall = total((t) => t.wall);
  const bands = BANDS.slice(0, -1).map((lo, k) => {
    const hi = BANDS[k + 1] ?? Infinity;
    const ts = turns.filter((t) => t.wall >= lo && t.wall < hi);
    const n = ts.length || 1;
    const req = total((t) => t.requests, ts);
    const cpu = total((t) => t.cpu, ts);
    return {
      wallMs: hi === Infinity ? `>=${lo}` : `${lo}-${hi}`,
      turns: ts.length,
      shareOfTurnTime: r3(total((t) => t.wall, ts) / (wall || 1)),
      meanWallMs: r1(total((t) => t.wall, ts) / n),
      meanRequests: r1(req / n),
      meanCpuMs: r1(cpu / n),
      meanWaitMs: r1(total((t) => t.wait, ts) / n),
      meanGcMs: r1(total((t) => gcIn.get(t) ?? 0, ts) / n),
      cpuUsPerRequest: req ? r1((1000 * cpu) / req) : null,
    };
  });
  const requests = total((t) => t.requests);
  return {
    turns: turns.length,
    secondsInTurns: r1(wall / 1000),
    requests,
    wallMs: { p50: pct(walls, 50), p90: pct(walls, 90), p99: pct(walls, 99), max: walls.at(-1) ?? NaN },
    cpuShare: r3(total((t) => t.cpu) / (wall || 1)),
    waitShare: r3(total((t) => t.wait) / (wall || 1)),
    cpuUsPerRequest: requests ? r1((1000 * total((t) => t.cpu)) / requests) : null,
    gcMsInTurns: r1([...gcIn.values()].reduce((s, x) => s + x, 0)),
    bands,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, from, to] = process.argv.slice(2);
  if (!file) throw new Error('usage: loop-turns-summary.ts FILE [FROM TO]');
  const when = (s: string | undefined, d: number): number =>
    s ? (/^\d+$/.test(s) ? Number(s) : Date.parse(s)) : d;
  const lo = when(from, -Infinity);
  const hi = when(to, Infinity);
  const { turns, gcs } = parseTurns(readFileSync(file, 'utf8'));
  const inWindow = turns.filter((t) => t.start >= lo && t.start + t.wall <= hi);
  console.log(
    JSON.stringify({ file, from: from ?? null, to: to ?? null, ...summarizeTurns(inWindow, gcs) }, null, 2),
  );
}
