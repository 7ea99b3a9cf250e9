/**
 * Where do failed requests through Varnish come from? N LL-HLS + N classic clients (tools/load/clients.ts, 4
 * processes) through Varnish in front of one reader for SEC seconds, while varnishncsa records every answer >= 400
 * and every fetch error (client and backend side) and varnishlog every backend health change. Prints JSON: the
 * clients' statuses and failures by cause (error code for status 0, reason phrase otherwise), their event-loop
 * delay (a starved client turns its own lateness into timeouts and resets), and Varnish's counters over the run
 * (sessions, requests, fetch failures, unhealthy backend, queueing). The logs stay in OUT_DIR.
 *
 *   N=1000 SEC=60 OUT_DIR=/tmp/ws-failures npx tsx tools/load/failures.ts
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { varnishCounters } from './observe.js';
import { LOAD_LADDER, startClients, startStack } from './stack.js';

const N = Number(process.env.N ?? 1000);
const SEC = Number(process.env.SEC ?? 60);
const OUT = process.env.OUT_DIR ?? join(tmpdir(), 'ws-failures');
mkdirSync(OUT, { recursive: true });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const COUNTERS = [
  'sess_conn',
  'sess_drop',
  'sess_fail',
  'sess_queued',
  'client_req',
  'cache_hit',
  'cache_miss',
  'backend_conn',
  'backend_fail',
  'backend_unhealthy',
  'backend_busy',
  'backend_retry',
  'fetch_failed',
  'fetch_no_thread',
  'threads_limited',
  'req_dropped',
  'busy_sleep',
  'busy_killed',
  'sc_rem_close',
  'sc_rx_timeout',
  'sc_tx_error',
  'sc_overload',
  'client_resp_500',
];

const stack = await startStack({ stream: 'load', segmentSec: 2, partSec: 0.25, cdn: true });
const cmd = readFileSync(`/proc/${stack.cdn!.pid}/cmdline`, 'utf8').split('\0');
const n = cmd[cmd.indexOf('-n') + 1]!;
const ncsa = spawn(
  'varnishncsa',
  [
    '-n',
    n,
    '-b',
    '-c',
    '-q',
    'RespStatus >= 400 or BerespStatus >= 400 or FetchError',
    '-F',
    '%{Varnish:side}x %s %U %{VSL:FetchError}x',
  ],
  { stdio: ['ignore', 'pipe', 'ignore'] },
);
ncsa.stdout.pipe(createWriteStream(join(OUT, 'varnishncsa.log')));
const health = spawn('varnishlog', ['-n', n, '-g', 'raw', '-i', 'Backend_health'], {
  stdio: ['ignore', 'pipe', 'ignore'],
});
health.stdout.pipe(createWriteStream(join(OUT, 'backend-health.log')));
await sleep(1000);
const before = await varnishCounters(stack.cdn!.pid);
const clients = await startClients(stack, 'load', {
  base: stack.cdnBase!,
  rendition: LOAD_LADDER[0]!.name,
  ll: N,
  classic: N,
  procs: 4,
  rampMs: 15_000,
});
await sleep(SEC * 1000);
const results = await clients.stop();
const after = await varnishCounters(stack.cdn!.pid);
ncsa.kill();
health.kill();
await stack.stop();

const varnish: Record<string, number> = {};
for (const k of COUNTERS) if (after[k] !== undefined) varnish[k] = after[k]! - (before[k] ?? 0);
const add = (
  into: Record<string, Record<string, number>>,
  from: Record<string, Record<string, number>>,
): void => {
  for (const [kind, by] of Object.entries(from))
    for (const [s, c] of Object.entries(by)) {
      const k = (into[kind] ??= {});
      k[s] = (k[s] ?? 0) + c;
    }
};
const statuses: Record<string, Record<string, number>> = {};
const failures: Record<string, Record<string, number>> = {};
for (const r of results) {
  add(statuses, r.statuses);
  add(failures, r.failures);
}
const healthLines = readFileSync(join(OUT, 'backend-health.log'), 'utf8').split('\n');
console.log(
  JSON.stringify(
    {
      tool: 'load/failures',
      config: {
        llClients: N,
        classicClients: N,
        seconds: SEC,
        clientProcs: 4,
        target: 'varnish (deploy VCL) -> one reader',
      },
      requests: results.reduce((a, r) => a + r.requests, 0),
      statuses,
      failures,
      clientLoopDelayMs: results.map((r) => r.loopDelayMs),
      varnish,
      backendWentSick: healthLines.filter((l) => /Went sick/.test(l)).length,
      logs: OUT,
    },
    null,
    2,
  ),
);
process.exit(0);
