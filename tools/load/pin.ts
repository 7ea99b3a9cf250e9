/**
 * CPU pinning for the load benchmarks (Linux `taskset`): the reader on cores of its own, the load clients on
 * others, so what the reader measures of a release is not the clients' scheduling (issue #15: at 1,000 clients
 * on the same two cores the two could not be told apart). Affinity is inherited, so a process pinned before it
 * forks (the ingest before a restarted ffmpeg) keeps its children on the same cores; children that already exist
 * are pinned with it.
 *
 * Env for bench:load (each a taskset CPU list such as "1" or "0,2-3"; unset: not pinned):
 *   BENCH_READER_CPUS  the reader process
 *   BENCH_CLIENT_CPUS  the load-client processes
 *   BENCH_STACK_CPUS   everything else: redis-server, ingest and its ffmpeg, manifest worker, Varnish, source
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { descendants } from './observe.js';

export interface Pinning {
  reader?: string;
  clients?: string;
  stack?: string;
}

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The pinning asked for in the environment; a malformed list stops the benchmark before it starts anything. */
export function pinningFromEnv(env: NodeJS.ProcessEnv = process.env): Pinning {
  const out: Pinning = {};
  for (const [key, field] of [
    ['BENCH_READER_CPUS', 'reader'],
    ['BENCH_CLIENT_CPUS', 'clients'],
    ['BENCH_STACK_CPUS', 'stack'],
  ] as const) {
    const v = env[key]?.trim();
    if (!v) continue;
    if (!CPU_LIST.test(v)) throw new Error(`${key}="${v}" is not a CPU list like "1" or "0,2-3"`);
    out[field] = v;
  }
  return out;
}

/**
 * Pins a process, every thread of it (-a), and (unless told not to) its descendants to `cpus`. Returns how many
 * processes were pinned (one gone in between is skipped).
 */
export function pin(pid: number | undefined, cpus: string | undefined, withDescendants = true): number {
  if (pid === undefined || !cpus) return 0;
  let n = 0;
  for (const p of withDescendants ? [pid, ...descendants(pid)] : [pid]) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(p)], { stdio: 'ignore' });
      n++;
    } catch {
      // gone, or not ours
    }
  }
  return n;
}

/** The CPUs a process may run on now (taskset -p -c), for the benchmark's record. */
export function affinity(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined;
  try {
    const out = execFileSync('taskset', ['-p', '-c', String(pid)], { encoding: 'utf8' });
    return /: (.*)$/m.exec(out.trim())?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * BENCH_CLIENT_NICE (0-19; unset: 0): the load clients' nice value. Raised, the scheduler gives the reader (and
 * the rest of the stack, at 0) the CPU first when both want it — on two shared cores the nearest this machine
 * comes to clients on other machines without taking a core from anyone, as pinning does.
 */
export function clientNiceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.BENCH_CLIENT_NICE?.trim();
  if (!v) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 19) throw new Error(`BENCH_CLIENT_NICE="${v}" is not 0-19`);
  return n;
}

/**
 * Sets the nice value of every thread of a process (Linux keeps one per thread: V8's and libuv's threads too).
 * Returns the threads set; a thread gone in between is skipped.
 */
export function renice(pid: number | undefined, nice: number): number {
  if (pid === undefined || nice === 0) return 0;
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return 0;
  }
  let n = 0;
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

/** A process's nice value now (its main thread's), for the benchmark's record. */
export function niceOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return getPriority(pid);
  } catch {
    return undefined;
  }
}
