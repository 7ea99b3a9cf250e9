/**
 * What bench:latency records beside the players, on one clock (Unix ms), to tell where a stall comes from:
 *  - ProcessSampler: every second, the CPU (cores) of each process under this one (/proc/PID/stat utime+stime),
 *    grouped by role (transcoder, source, probe decoders, chromium, varnish, redis, this node process), plus the
 *    CPU of children already reaped (this process's cutime+cstime: the short-lived probe decoders) and load1.
 *  - EventTap: the stream's own event channel in Redis: when the ingest announced each part (per rendition) and
 *    when the manifest worker announced each manifest version, so a late part can be put on the ingest/transcoder
 *    side (part announced late) or the manifest side (manifest announced late after its part).
 *  - stallContext: for each player stall, what the other series showed in the seconds before it.
 * Linux only (/proc). Bookkeeping for a benchmark, not part of the origin.
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import type { EventBus, MediaEvent, Subscription } from '../../src/store/ports.js';

const TICK_HZ = 100; // USER_HZ on Linux
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
  childTicks: number;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s
      .slice(close + 2)
      .split(' ')
      .map(Number);
    // fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return { pid, ppid: f[1]!, comm, ticks: f[11]! + f[12]!, childTicks: f[13]! + f[14]! };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The role of a process under the bench, from its name and command line. */
export function roleOf(comm: string, cmd: string, isSelf: boolean): string {
  if (isSelf) return 'bench-node (origin+probes+driver)';
  if (comm.startsWith('ffmpeg') || cmd.startsWith('ffmpeg')) {
    if (cmd.includes('format=gray')) return 'probe-decoders';
    if (cmd.includes('rawvideo') && cmd.includes('pipe:0') && cmd.includes('s16le')) return 'source-ffmpeg';
    return 'transcoder-ffmpeg';
  }
  if (/chrom/i.test(comm) || cmd.includes('chromium')) return 'chromium';
  if (comm.startsWith('varnish') || comm === 'cache-main' || cmd.includes('varnishd')) return 'varnish';
  if (comm.startsWith('redis')) return 'redis';
  if (cmd.includes('stamped-source')) return 'source-node';
  if (comm === 'node' || comm.startsWith('node')) return 'node-other';
  return comm;
}

export interface CpuPoint {
  atMs: number;
  load1: number;
  /** Cores used over the last interval, per role. */
  cores: Record<string, number>;
}

export class ProcessSampler {
  readonly points: CpuPoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<number, { ticks: number; role: string }>();
  private lastSelfChild = 0;
  private lastAt = 0;
  private readonly roles = new Map<number, string>();

  constructor(
    private readonly root = process.pid,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = Date.now();
    const all: ProcInfo[] = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const p = readProc(Number(d));
      if (p) all.push(p);
    }
    const children = new Map<number, ProcInfo[]>();
    for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
    const self = all.find((p) => p.pid === this.root);
    const tree: ProcInfo[] = self ? [self] : [];
    for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
    const cur = new Map<number, { ticks: number; role: string }>();
    for (const p of tree) {
      let role = this.roles.get(p.pid);
      if (role === undefined) {
        role = roleOf(p.comm, cmdline(p.pid), p.pid === this.root);
        // A freshly forked child may still carry its parent's command line: decide again next time.
        if (role !== 'node-other' && role !== 'bench-node (origin+probes+driver)')
          this.roles.set(p.pid, role);
      }
      cur.set(p.pid, { ticks: p.ticks, role });
    }
    const selfChild = self?.childTicks ?? 0;
    if (this.lastAt) {
      const dtSec = (now - this.lastAt) / 1000;
      const cores: Record<string, number> = {};
      for (const [pid, c] of cur) {
        const before = this.last.get(pid)?.ticks ?? 0;
        cores[c.role] = (cores[c.role] ?? 0) + (c.ticks - before) / TICK_HZ / dtSec;
      }
      // Children of the bench process reaped since the last sample (short-lived decoders), whole lifetime.
      cores['reaped-children'] = (selfChild - this.lastSelfChild) / TICK_HZ / dtSec;
      for (const k of Object.keys(cores)) cores[k] = round(cores[k]!);
      this.points.push({ atMs: now, load1: round(os.loadavg()[0]!), cores });
    }
    for (const pid of [...this.roles.keys()]) if (!cur.has(pid)) this.roles.delete(pid);
    this.last = cur;
    this.lastSelfChild = selfChild;
    this.lastAt = now;
  }

  /** Mean and max cores per role, and load1, over [fromMs, toMs]. */
  summary(fromMs = 0, toMs = Number.POSITIVE_INFINITY) {
    const pts = this.points.filter((p) => p.atMs >= fromMs && p.atMs <= toMs);
    const roles = new Set(pts.flatMap((p) => Object.keys(p.cores)));
    const cores: Record<string, { mean: number; max: number }> = {};
    for (const r of roles) {
      const v = pts.map((p) => p.cores[r] ?? 0);
      cores[r] = { mean: round(v.reduce((a, b) => a + b, 0) / v.length), max: round(Math.max(...v)) };
    }
    const total = pts.map((p) => Object.values(p.cores).reduce((a, b) => a + b, 0));
    return {
      samples: pts.length,
      load1: pts.length
        ? { min: Math.min(...pts.map((p) => p.load1)), max: Math.max(...pts.map((p) => p.load1)) }
        : undefined,
      totalCores: total.length
        ? {
            mean: round(total.reduce((a, b) => a + b, 0) / total.length),
            max: round(Math.max(...total)),
          }
        : undefined,
      cores,
    };
  }
}

/** A part or manifest announcement heard on the stream's event channel. */
export interface TapEvent {
  atMs: number;
  t: 'part' | 'seg' | 'manifest';
  r?: string;
  msn?: number;
  i?: number;
  pos?: Record<string, { msn: number; part: number }>;
}

/**
 * Listens to the stream's event bus (where the ingest and manifest worker announce). From it:
 * ingest lag per part = when the part was announced minus its media end time placed on the wall clock (by the
 * earliest part: the figure is the lag above the best seen, so a transcoder falling behind shows as a rise),
 * manifest lag = a manifest announcement listing part P minus P's own announcement.
 */
export class EventTap {
  readonly events: TapEvent[] = [];
  private sub: Subscription | undefined;
  constructor(
    private readonly bus: EventBus,
    private readonly stream: string,
  ) {}

  async start(): Promise<void> {
    this.sub = this.bus.subscribe(this.stream, (ev: MediaEvent) => {
      const { t } = ev;
      if (t === 'part') this.events.push({ atMs: Date.now(), t, r: ev.r, msn: ev.msn, i: ev.i });
      else if (t === 'seg') this.events.push({ atMs: Date.now(), t, r: ev.r, msn: ev.msn });
      else this.events.push({ atMs: Date.now(), t, pos: ev.pos });
    });
    await this.sub.ready;
  }

  stop(): void {
    this.sub?.close();
  }

  /**
   * Per part of `rendition` (parts of partSec, segments of segmentSec): ingest lag above the best, and the
   * manifest lag (announcement of the first manifest listing it minus the part's announcement).
   */
  lags(
    rendition: string,
    segmentSec: number,
    partSec: number,
  ): Array<{ atMs: number; msn: number; i: number; ingestLagMs: number; manifestLagMs?: number }> {
    const parts = this.events.filter((e) => e.t === 'part' && e.r === rendition);
    const perSeg = Math.round(segmentSec / partSec);
    const mediaMs = (msn: number, i: number): number => (msn * perSeg + i + 1) * partSec * 1000;
    const raw = parts.map((e) => ({ e, off: e.atMs - mediaMs(e.msn!, e.i!) }));
    const best = Math.min(...raw.map((x) => x.off));
    const manifests = this.events.filter((e) => e.t === 'manifest' && e.pos?.[rendition]);
    let m = 0;
    return raw.map(({ e, off }) => {
      while (m < manifests.length && !covers(manifests[m]!.pos![rendition]!, e.msn!, e.i!)) m++;
      const man = manifests[m];
      return {
        atMs: e.atMs,
        msn: e.msn!,
        i: e.i!,
        ingestLagMs: Math.round(off - best),
        manifestLagMs: man ? man.atMs - e.atMs : undefined,
      };
    });
  }
}

const covers = (pos: { msn: number; part: number }, msn: number, i: number): boolean =>
  pos.msn > msn || (pos.msn === msn && pos.part >= i);

export interface Stall {
  atMs: number;
  ms: number;
}

/**
 * For each stall, what happened in the `beforeMs` before it began and while it lasted: the worst availability
 * the probes measured at the origin, the worst ingest and manifest lag, the CPU per role and load1, and the
 * player's own events.
 */
export function stallContext(
  stalls: Stall[],
  o: {
    beforeMs?: number;
    originSamples: Array<{ atMs: number; latencyMs: number }>;
    lags: Array<{ atMs: number; ingestLagMs: number; manifestLagMs?: number }>;
    cpu: ProcessSampler;
    playerEvents: Array<{ atMs: number; what: string }>;
    t0: number;
    /** Frames the source dropped, per report (atMs, count since the previous report). */
    sourceDrops?: Array<{ atMs: number; v: number }>;
  },
) {
  const before = o.beforeMs ?? 8000;
  const maxOf = (v: number[]): number | undefined => (v.length ? Math.max(...v) : undefined);
  return stalls.map((s) => {
    const from = s.atMs - before;
    const to = s.atMs + s.ms;
    const inWin = <T extends { atMs: number }>(l: T[]): T[] =>
      l.filter((x) => x.atMs >= from && x.atMs <= to);
    const lags = inWin(o.lags);
    const cpu = o.cpu.summary(from, to);
    return {
      atSec: round((s.atMs - o.t0) / 1000, 1),
      ms: Math.round(s.ms),
      window: `${before / 1000} s before to the end of the stall`,
      originAvailabilityMaxMs: maxOf(inWin(o.originSamples).map((x) => x.latencyMs)),
      ingestLagMaxMs: maxOf(lags.map((x) => x.ingestLagMs)),
      sourceDroppedFrames: o.sourceDrops ? inWin(o.sourceDrops).reduce((n, x) => n + x.v, 0) : undefined,
      manifestLagMaxMs: maxOf(lags.flatMap((x) => (x.manifestLagMs === undefined ? [] : [x.manifestLagMs]))),
      load1Max: cpu.load1?.max,
      totalCoresMax: cpu.totalCores?.max,
      coresMean: Object.fromEntries(Object.entries(cpu.cores).map(([k, v]) => [k, v.mean])),
      playerEvents: inWin(o.playerEvents)
        .slice(0, 12)
        .map((e) => `${round((e.atMs - o.t0) / 1000, 1)}s ${e.what}`),
    };
  });
}

/** A coarse per-second (or per-`stepMs`) series of several measures, for the JSON report: compact. */
export function timeline(
  t0: number,
  t1: number,
  stepMs: number,
  series: Record<string, { points: Array<{ atMs: number; v: number }>; agg: 'max' | 'mean' }>,
): Array<Record<string, number | undefined>> {
  const rows: Array<Record<string, number | undefined>> = [];
  for (let a = t0; a < t1; a += stepMs) {
    const row: Record<string, number | undefined> = { tSec: round((a - t0) / 1000, 1) };
    for (const [name, s] of Object.entries(series)) {
      const v = s.points.filter((p) => p.atMs >= a && p.atMs < a + stepMs).map((p) => p.v);
      row[name] = v.length
        ? Math.round(s.agg === 'max' ? Math.max(...v) : v.reduce((x, y) => x + y, 0) / v.length)
        : undefined;
    }
    rows.push(row);
  }
  return rows;
}
