/**
 * What a Node process's event-loop turns are made of, recorded from inside it: preload it into the process under
 * load, e.g. `READER_NODE_ARGS="--import tsx --import ./tools/load/loop-turns.ts" LOOP_TURNS_OUT=/tmp/turns.jsonl`,
 * then `npx tsx tools/load/loop-turns-summary.ts /tmp/turns.jsonl`.
 *
 * A turn is measured from one check phase (setImmediate) to the next: everything the loop did in between (timers,
 * the poll phase's I/O callbacks, i.e. HTTP requests, Redis replies and the writes they cause). Per turn it records
 * the wall time, the main thread's time on a CPU and runnable but waiting for one (/proc/thread-self/schedstat read
 * at each boundary) and the HTTP requests that started (diagnostics_channel `http.server.request.start`). The chain
 * of immediates runs only while requests come: a turn without any request ends it (so an idle process is not kept
 * spinning), and the next request starts it again; time outside the chain is not a turn. The kernel brings a running
 * thread's schedstat up to date at ticks and switches (4 ms steps in a test here, i.e. HZ=250), so one turn's CPU and wait are off by
 * up to a tick; the errors cancel between consecutive turns, so sums and means over many turns hold. GC pauses are recorded
 * with their start, so the summary can place them in turns.
 *
 * Rows are appended every second as JSON lines: `{"turns":[[startMs, wallMs, cpuMs, waitMs, requests], ...]}` and
 * `{"gc":[[startMs, ms, kind], ...]}`, times from performance.now(); the first line is `{"timeOrigin": epochMs}`.
 * A diagnostic for benchmarks, not for production: it costs a file read per turn.
 */
import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync, readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { gcKind } from '../../src/gc-metric.js';

const out = process.env.LOOP_TURNS_OUT;

/** Main thread's [on-CPU, waiting] ns so far (schedstat: run time, run-queue wait, timeslices). */
export function schedstat(text: string): [number, number] {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  return [run ?? NaN, wait ?? NaN];
}

if (out) {
  const read = (): [number, number] => schedstat(readFileSync('/proc/thread-self/schedstat', 'utf8'));
  let turns: number[][] = [];
  let gcs: (number | string)[][] = [];
  let requests = 0;
  let chained = false;
  let start = 0;
  let sched: [number, number] = [0, 0];

  const boundary = (): void => {
    const now = performance.now();
    const s = read();
    turns.push([
      Math.round(start * 100) / 100,
      Math.round((now - start) * 100) / 100,
      Math.round((s[0] - sched[0]) / 1e4) / 100,
      Math.round((s[1] - sched[1]) / 1e4) / 100,
      requests,
    ]);
    const any = requests > 0;
    requests = 0;
    start = now;
    sched = s;
    if (any) setImmediate(boundary);
    else chained = false;
  };

  subscribe('http.server.request.start', () => {
    requests++;
    if (chained) return;
    // The chain was off: this turn's start is not known, so it begins now (the first turn is short by its head).
    chained = true;
    start = performance.now();
    sched = read();
    setImmediate(boundary);
  });

  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gcs.push([Math.round(e.startTime * 100) / 100, Math.round(e.duration * 100) / 100, gcKind(e)]);
  }).observe({ entryTypes: ['gc'] });

  const flush = (): void => {
    const lines: string[] = [];
    if (turns.length) lines.push(JSON.stringify({ turns }));
    if (gcs.length) lines.push(JSON.stringify({ gc: gcs }));
    turns = [];
    gcs = [];
    if (lines.length) appendFileSync(out, `${lines.join('\n')}\n`);
  };
  appendFileSync(out, `${JSON.stringify({ timeOrigin: performance.timeOrigin })}\n`);
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
