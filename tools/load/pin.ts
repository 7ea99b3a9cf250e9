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
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
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
 * BENCH_CLIENT_NICE (0-19; unset: 0): how far the load clients yield the CPU. With the kernel's autogroups on
 * (Debian's default, /proc/sys/kernel/sched_autogroup_enabled), the scheduler shares the CPU first between
 * sessions (the reader, ingest and manifest worker each run in one of their own) and only then by each thread's
 * nice inside a session, so a thread's nice alone would change nothing for the reader. The clients are then
 * started each in a session of its own (tools/load/stack.ts) and reniceGroup sets that session's nice: the
 * reader gets the CPU first when both want it — on two shared cores the nearest this machine comes to clients on
 * other machines without taking a core from anyone, as pinning does.
 */
export function clientNiceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.BENCH_CLIENT_NICE?.trim();
  if (!v) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 19) throw new Error(`BENCH_CLIENT_NICE="${v}" is not 0-19`);
  return n;
}

/**
 * BENCH_READER_NICE (-20-19; unset: 0): the reader processes' scheduling priority, set on their sessions'
 * autogroups (each reader runs in a session of its own) as BENCH_CLIENT_NICE does for the clients. Negative: the
 * reader gets a CPU before the clients and the rest of the stack when both want one, as an operator would give
 * the process that answers viewers priority over co-located batch work (needs CAP_SYS_NICE). reniceGroup also
 * sets each of the reader's threads' nice, for kernels without autogroups.
 */
export function readerNiceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.BENCH_READER_NICE?.trim();
  if (!v) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error(`BENCH_READER_NICE="${v}" is not -20-19`);
  return n;
}

/** Whether the kernel shares the CPU between sessions first (autogroups); undefined when it cannot tell. */
export function autogroupsOn(): boolean | undefined {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

/**
 * Sets the nice of a process's session leader's autogroup (/proc/PID/autogroup; affects every process of that
 * session, so call it only for a process in a session of its own) and of each of its threads (for kernels
 * without autogroups). Returns what /proc/PID/autogroup reads afterwards ("/autogroup-N nice M"), or undefined.
 */
export function reniceGroup(pid: number | undefined, nice: number): string | undefined {
  if (pid === undefined || nice === 0) return undefined;
  let tids: number[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    // gone
  }
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
    } catch {
      // gone
    }
  }
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
