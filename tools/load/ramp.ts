/**
 * What the reader did while its clients connected (issue #13: requests on new connections went unanswered for
 * 10 s during bench:load's ramp, with the kernel counting listen-queue overflows). Every `everyMs` it reads the
 * reader's accept queue (connections the kernel completed that the process has not accepted yet: `ss`, Recv-Q of
 * the listening socket, and its backlog, Send-Q) and the main thread's scheduler times (/proc/PID/schedstat: on a
 * CPU, and runnable but waiting for one). The summary tells a reader busy on its CPU from one starved of CPU
 * from one that is neither while the queue is long.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LoadClientsResult } from './clients.js';
import { schedstat } from './observe.js';

const run = promisify(execFile);

/** The listening socket on `port`: accept queue length and backlog (undefined when ss cannot tell). */
export async function acceptQueue(port: number): Promise<{ queue: number; backlog: number } | undefined> {
  try {
    const { stdout } = await run('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
    const f = stdout.trim().split(/\s+/);
    const queue = Number(f[1]);
    const backlog = Number(f[2]);
    return Number.isFinite(queue) && Number.isFinite(backlog) ? { queue, backlog } : undefined;
  } catch {
    return undefined;
  }
}

export interface Sample {
  /** ms since the sampler started */
  t: number;
  queue: number;
  /** Over the interval before this sample, as shares of its wall time: the main thread on a CPU, and waiting. */
  cpu: number;
  wait: number;
}

export interface RampSummary {
  definition: string;
  everyMs: number;
  samples: number;
  backlog: number | 'unknown';
  queueMax: number;
  /** Samples with LONG_QUEUE or more connections waiting, and the longest run of them, seconds. */
  samplesQueueAtLeast128: number;
  longestQueueAtLeast128Sec: number;
  /** Samples with the queue past Node's default backlog (511): connections that one would have dropped. */
  samplesQueueOver511: number;
  /** When the queue first reached LONG_QUEUE, seconds after the clients started. */
  firstQueueAtLeast128Sec: number | 'never';
  /** Mean shares of wall time of the reader's main thread: on a CPU / runnable but waiting, by queue state. */
  mainThreadWhileQueueLong: { cpu: number; wait: number } | 'n/a';
  mainThreadOtherwise: { cpu: number; wait: number } | 'n/a';
  /** The queue's maximum in each 5 s from the clients' start, the whole phase. */
  queueMaxPer5s: number[];
  /** The main thread's mean share of wall time runnable but waiting for a CPU, in the same 5 s bins. */
  mainThreadWaitPer5s: number[];
}

/** Samples until stop(); stop() summarizes. Async reads: the sampling process keeps serving its own events. */
export function sampleReaderAccept(
  pid: number,
  port: number,
  everyMs = 200,
): { stop(): Promise<RampSummary> } {
  const samples: Sample[] = [];
  let backlog: number | undefined;
  let running = true;
  const t0 = performance.now();
  const loop = (async () => {
    let prev = { at: performance.now(), ...schedstat(pid) };
    while (running) {
      await new Promise((r) => setTimeout(r, everyMs));
      const q = await acceptQueue(port);
      const s = { at: performance.now(), ...schedstat(pid) };
      const wallNs = (s.at - prev.at) * 1e6;
      if (q) {
        backlog = q.backlog;
        samples.push({
          t: s.at - t0,
          queue: q.queue,
          cpu: (s.cpuNs - prev.cpuNs) / wallNs,
          wait: (s.waitNs - prev.waitNs) / wallNs,
        });
      }
      prev = s;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return summarizeRamp(samples, backlog, everyMs);
    },
  };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A queue this long holds a burst: at one accept per event-loop turn it takes the reader seconds to drain. */
export const LONG_QUEUE = 128;

function meanShares(xs: Sample[]): { cpu: number; wait: number } | 'n/a' {
  const ok = xs.filter((x) => Number.isFinite(x.cpu) && Number.isFinite(x.wait));
  if (ok.length === 0) return 'n/a';
  return {
    cpu: r3(ok.reduce((n, x) => n + x.cpu, 0) / ok.length),
    wait: r3(ok.reduce((n, x) => n + x.wait, 0) / ok.length),
  };
}

export function summarizeRamp(samples: Sample[], backlog: number | undefined, everyMs: number): RampSummary {
  const long = samples.filter((s) => s.queue >= LONG_QUEUE);
  let run = 0;
  let longest = 0;
  for (const s of samples) {
    run = s.queue >= LONG_QUEUE ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  const per5s: number[] = [];
  const waits: Sample[][] = [];
  for (const s of samples) {
    const i = Math.floor(s.t / 5000);
    per5s[i] = Math.max(per5s[i] ?? 0, s.queue);
    (waits[i] ??= []).push(s);
  }
  return {
    definition:
      "the reader's listening socket (ss: Recv-Q = connections completed by the kernel and not yet accepted, Send-Q = backlog) and its main thread (/proc/PID/schedstat) every everyMs from the clients' start",
    everyMs,
    samples: samples.length,
    backlog: backlog ?? 'unknown',
    queueMax: samples.reduce((m, s) => Math.max(m, s.queue), 0),
    samplesQueueAtLeast128: long.length,
    longestQueueAtLeast128Sec: r3((longest * everyMs) / 1000),
    samplesQueueOver511: samples.filter((s) => s.queue > 511).length,
    firstQueueAtLeast128Sec: long.length ? r3(long[0]!.t / 1000) : 'never',
    mainThreadWhileQueueLong: meanShares(long),
    mainThreadOtherwise: meanShares(samples.filter((s) => s.queue < LONG_QUEUE)),
    queueMaxPer5s: Array.from(per5s, (x) => x ?? 0),
    mainThreadWaitPer5s: Array.from(waits, (xs) => {
      const m = xs ? meanShares(xs) : 'n/a';
      return m === 'n/a' ? NaN : Math.round(m.wait * 100) / 100;
    }),
  };
}

/**
 * How many of `wallMs` fall in each 5 s from `t0` (`n` bins; earlier times count in the first, later in the
 * last).
 */
export function countPer5s(wallMs: number[], t0: number, n: number): number[] {
  const bins = new Array<number>(Math.max(1, n)).fill(0);
  for (const t of wallMs) {
    if (!Number.isFinite(t)) continue;
    bins[Math.min(bins.length - 1, Math.max(0, Math.floor((t - t0) / 5000)))]!++;
  }
  return bins;
}

export interface BurstCauses {
  /**
   * Blocking reloads released later than one part, and than two parts, after their announcement, by when they
   * completed.
   */
  lateReleasesPer5s: { overOnePart: number[]; overTwoParts: number[] };
  /** The players' idle connections the server closed (its keep-alive timeout), by when. */
  idleClosedPer5s: number[];
  /** The request kinds new connections were opened for, in the first 25 s (or the ramp and 10 s after) and after. */
  newConnectionsByKind: { first25s: Record<string, number>; after: Record<string, number> };
}

/**
 * What comes with the clients' new connections (issue #13): the blocking reloads released later than one part,
 * and than two, after their announcement, in the same 5 s bins (such a reload's playlist lists parts its player
 * has not fetched, up to two of which the player fetches at once, beside its hinted part), and the kind of request
 * each new connection was opened for, in the first 25 s (the ramp and 10 s after) and after; and the idle
 * connections the server closed, which a player opens again when it next needs them.
 */
export function burstCauses(
  results: ReadonlyArray<
    Pick<
      LoadClientsResult,
      'releaseMs' | 'releaseDoneAt' | 'newConnectionSentAt' | 'newConnectionKind' | 'idleClosedAt'
    >
  >,
  t0: number,
  bins: number,
  rampMs: number,
  partMs: number,
): BurstCauses | Record<string, never> {
  if (bins === 0) return {};
  const late: number[] = [];
  const later: number[] = [];
  for (const r of results)
    r.releaseMs.forEach((ms, i) => {
      if (ms > partMs) late.push(r.releaseDoneAt[i]!);
      if (ms > 2 * partMs) later.push(r.releaseDoneAt[i]!);
    });
  const settled = t0 + Math.max(25_000, rampMs + 10_000);
  const kinds = (after: boolean): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of results)
      r.newConnectionSentAt.forEach((at, i) => {
        if (at >= settled !== after) return;
        const k = r.newConnectionKind[i]!;
        out[k] = (out[k] ?? 0) + 1;
      });
    return out;
  };
  return {
    lateReleasesPer5s: { overOnePart: countPer5s(late, t0, bins), overTwoParts: countPer5s(later, t0, bins) },
    newConnectionsByKind: { first25s: kinds(false), after: kinds(true) },
    idleClosedPer5s: countPer5s(
      results.flatMap((r) => r.idleClosedAt),
      t0,
      bins,
    ),
  };
}
