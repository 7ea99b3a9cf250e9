/**
 * What the load and soak benchmarks observe from outside the processes under test: CPU time and RSS from /proc,
 * Redis INFO through redis-cli, Varnish counters through varnishstat -j. Linux only.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return NaN;
  }
}

/** CPU seconds of a process and all its descendants (varnishd's manager and worker, a shell's children). */
export function treeCpuSeconds(pid: number): number {
  return descendants(pid).reduce((n, p) => n + (cpuSeconds(p) || 0), cpuSeconds(pid));
}

/** Resident set size, bytes; NaN once the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export function descendants(pid: number): number[] {
  const out: number[] = [];
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const k of kids.map(Number)) out.push(k, ...descendants(k));
  } catch {
    // gone, or no children file
  }
  return out;
}

/** The first descendant whose command line matches (e.g. ffmpeg under the ingest). */
export function findDescendant(pid: number, re: RegExp): number | undefined {
  for (const p of descendants(pid)) {
    try {
      if (re.test(readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' '))) return p;
    } catch {
      // gone
    }
  }
  return undefined;
}

/** Redis INFO as key -> value (all sections). */
export async function redisInfo(port: number): Promise<Record<string, string>> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'all'], { encoding: 'utf8' });
  const out: Record<string, string> = {};
  for (const line of stdout.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** varnishstat -j counters (MAIN.* values) of the instance whose manager is `pid` (its -n taken from /proc). */
export async function varnishCounters(pid: number): Promise<Record<string, number>> {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const n = args[args.indexOf('-n') + 1];
  if (!n) throw new Error('varnishd without -n');
  const { stdout } = await run('varnishstat', ['-n', n, '-j'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const j = JSON.parse(stdout) as { counters?: Record<string, { value: number }> } & Record<string, unknown>;
  const counters = (j.counters ?? j) as Record<string, { value?: number }>;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters))
    if (k.startsWith('MAIN.') && typeof v?.value === 'number') out[k.slice(5)] = v.value;
  return out;
}

/** Least-squares slope of y over x, its standard error, and whether it is beyond noise (|slope| > 3 SE). */
export function slope(xs: number[], ys: number[]): { slope: number; stderr: number; beyondNoise: boolean } {
  const n = xs.length;
  if (n < 3) return { slope: NaN, stderr: NaN, beyondNoise: false };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const b = sxy / sxx;
  const a = my - b * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i]! - (a + b * xs[i]!)) ** 2;
  const se = Math.sqrt(sse / (n - 2) / sxx);
  return { slope: b, stderr: se, beyondNoise: Math.abs(b) > 3 * se };
}

/**
 * A process's main thread from the scheduler (/proc/PID/schedstat, ns): time run on a CPU and time spent runnable
 * but waiting for one. Over an interval, the second is what a busy machine adds to the first.
 */
export function schedstat(pid: number): { cpuNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { cpuNs: run ?? NaN, waitNs: wait ?? NaN };
  } catch {
    return { cpuNs: NaN, waitNs: NaN };
  }
}

/** User and system CPU seconds a process has used so far (/proc/PID/stat, 10 ms ticks); NaN once it is gone. */
export function cpuSplit(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / TICK, system: Number(f[12]) / TICK };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** What the kernel did on one CPU so far: softirq time (/proc/stat, 10 ms ticks), NET_RX softirqs run there
 * (/proc/softirqs) and the CPU time of its ksoftirqd thread, which takes over softirq work the interrupted task
 * could not finish and competes with that task for the CPU (/proc/PID/schedstat, ns). */
export function kernelOnCpu(cpu: number): { softirqMs: number; netRx: number; ksoftirqdCpuNs: number } {
  const stat = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  const softirqMs = stat ? Number(stat.split(/\s+/)[7]) * (1000 / TICK) : NaN;
  const rx = readFileSync('/proc/softirqs', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('NET_RX:'));
  const netRx = rx ? Number(rx.trim().split(/\s+/)[cpu + 1]) : NaN;
  return { softirqMs, netRx, ksoftirqdCpuNs: schedstat(ksoftirqdPid(cpu) ?? -1).cpuNs };
}

const ksoftirqd = new Map<number, number | undefined>();
function ksoftirqdPid(cpu: number): number | undefined {
  if (!ksoftirqd.has(cpu)) {
    let found: number | undefined;
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`) found = Number(p);
      } catch {
        // gone
      }
      if (found) break;
    }
    ksoftirqd.set(cpu, found);
  }
  return ksoftirqd.get(cpu);
}

/** CPU time (ns, /proc/PID/task/TID/schedstat) and name of every thread on the machine, keyed "pid/tid". */
export function allThreadsCpuNs(): Map<string, { ns: number; comm: string }> {
  const out = new Map<string, { ns: number; comm: string }>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const ns = Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
        const comm = readFileSync(`/proc/${p}/task/${t}/comm`, 'utf8').trim();
        out.set(`${p}/${t}`, { ns, comm });
      } catch {
        // gone
      }
    }
  }
  return out;
}

/** The threads that ran most between two allThreadsCpuNs() snapshots (ms), busiest first. */
export function busiestThreads(
  before: Map<string, { ns: number; comm: string }>,
  after: Map<string, { ns: number; comm: string }>,
  top = 8,
): Array<{ thread: string; cpuMs: number }> {
  return [...after]
    .map(([id, { ns, comm }]) => ({
      thread: `${id} ${comm}`,
      cpuMs: Math.round((ns - (before.get(id)?.ns ?? ns)) / 1e4) / 100,
    }))
    .filter((x) => x.cpuMs > 0)
    .sort((a, b) => b.cpuMs - a.cpuMs)
    .slice(0, top);
}

/** Kernel TCP counters (nstat) that say whether the kernel refused or reset connections. */
export const KERNEL = [
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtTCPReqQFullDrop',
  'TcpExtTCPAbortOnData',
  'TcpExtTCPAbortOnClose',
  'TcpExtTCPAbortOnTimeout',
  'TcpExtTCPAbortOnLinger',
  'TcpAttemptFails',
  'TcpEstabResets',
  'TcpOutRsts',
  'TcpActiveOpens',
  'TcpPassiveOpens',
];

/**
 * The KERNEL counters now (absolute, this network namespace); subtract two readings for a run's share. Empty when
 * nstat is missing or fails (never zeros that would read as "no overflow").
 */
export function kernelCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  const r = spawnSync('nstat', ['-az', ...KERNEL], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return out;
  for (const line of (r.stdout ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && KERNEL.includes(k)) out[k] = Number(v);
  }
  return out;
}

/** /proc/stat's first line: the machine's busy and total CPU seconds so far (all CPUs). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0); // user..steal (guest is inside user)
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / TICK, total: total / TICK };
}

/**
 * Who had the CPUs between two allThreadsCpuNs() snapshots: cores (CPU seconds per second of `seconds`) by role.
 * `roles` maps a pid to its role; a thread whose pid is not in it counts as "other" (other sessions, kernel
 * threads such as ksoftirqd). `split` names the pids whose main thread (tid = pid) is reported apart from their
 * other threads ("<role> main" and "<role> other threads", e.g. the reader's event loop and V8's helpers).
 */
export function coresByRole(
  before: Map<string, { ns: number; comm: string }>,
  after: Map<string, { ns: number; comm: string }>,
  roles: Map<number, string>,
  seconds: number,
  split: ReadonlySet<number> = new Set(),
): Record<string, number> {
  const ns = new Map<string, number>();
  for (const [id, { ns: n }] of after) {
    const [pid, tid] = id.split('/').map(Number) as [number, number];
    const role = roles.get(pid);
    const name =
      role === undefined
        ? 'other'
        : split.has(pid)
          ? `${role} ${pid === tid ? 'main' : 'other threads'}`
          : role;
    // A thread born in the window (not in `before`) spent all its time in it.
    ns.set(name, (ns.get(name) ?? 0) + n - (before.get(id)?.ns ?? 0));
  }
  return Object.fromEntries(
    [...ns].map(([k, v]) => [k, Math.round(v / 1e6 / seconds) / 1000] as const).sort((a, b) => b[1] - a[1]),
  );
}
