/**
 * Where do failed requests through Varnish come from? N LL-HLS + N classic clients (tools/load/clients.ts, 4
 * processes) through Varnish in front of one reader for SEC seconds, while varnishncsa records every answer >= 400
 * and every fetch error (client and backend side) and varnishlog every backend health change. Prints JSON: the
 * clients' statuses and failures by cause (error code for status 0, reason phrase otherwise), their event-loop
 * delay (a starved client turns its own lateness into timeouts and resets), and Varnish's counters over the run
 * (sessions, requests, fetch failures, unhealthy backend, queueing, why sessions closed), its parameters, the
 * kernel's TCP counters (nstat: listen overflows and drops, resets), CPU per role and the load average. Requests
 * the clients resent after a reused keep-alive socket turned out closed (as a browser does) are listed apart
 * (resentOnStaleKeepAlive); they match the kernel's TcpEstabResets. The logs stay in OUT_DIR.
 * LOAD_VARNISH_PARAMS="timeout_idle=65" tries other varnishd parameters.
 *
 *   N=1000 SEC=60 OUT_DIR=/tmp/ws-failures npx tsx tools/load/failures.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KERNEL, cpuSeconds, kernelCounters as kernel, treeCpuSeconds, varnishCounters } from './observe.js';
import { mergeCounts } from './clients.js';
import { CLIENT_HTTP, LOAD_LADDER, startClients, startStack } from './stack.js';

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
  'sc_rx_bad',
  'sc_rx_overflow',
  'sc_rx_close_idle',
  'sc_req_close',
  'sc_resp_close',
  'sc_req_http10',
  'sc_pipe_overflow',
  'sess_closed',
  'sess_closed_err',
  'sess_readahead',
  'client_resp_500',
];
const loadAvg = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

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
const params: Record<string, string> = {};
for (const p of [
  'timeout_idle',
  'thread_pool_min',
  'thread_pool_max',
  'thread_pools',
  'listen_depth',
  'send_timeout',
  'idle_send_timeout',
]) {
  const r = spawnSync('varnishadm', ['-n', n, 'param.show', p], { encoding: 'utf8' });
  params[p] = /Value is: (.*)/.exec(r.stdout ?? '')?.[1]?.trim() ?? 'n/a';
}
const before = await varnishCounters(stack.cdn!.pid);
const kernel0 = kernel();
const load0 = loadAvg();
const clients = await startClients(stack, 'load', {
  base: stack.cdnBase!,
  rendition: LOAD_LADDER[0]!.name,
  ll: N,
  classic: N,
  procs: 4,
  rampMs: 15_000,
});
const cpuOf = (): Record<string, number> => ({
  clients: clients.pids.reduce((a, p) => a + cpuSeconds(p), 0),
  reader: cpuSeconds(stack.reader.pid!),
  varnish: treeCpuSeconds(stack.cdn!.pid),
  ingestWithFfmpeg: treeCpuSeconds(stack.ingest.pid!),
});
const cpu0 = cpuOf();
const t0 = performance.now();
await sleep((SEC * 1000) / 2);
// What else used the 2 cores (other sessions' work included), over the last few seconds.
const topMid = spawnSync('top', ['-b', '-n', '1', '-o', '%CPU', '-w', '200'], { encoding: 'utf8' })
  .stdout?.split('\n')
  .slice(7, 17)
  .map((l) => l.trim().split(/\s+/).slice(8).join(' '));
const ssMid = spawnSync('ss', ['-s'], { encoding: 'utf8' }).stdout?.split('\n').slice(0, 2).join(' ').trim();
const loadMid = loadAvg();
await sleep((SEC * 1000) / 2);
const cpu1 = cpuOf();
const elapsed = (performance.now() - t0) / 1000;
const results = await clients.stop();
const after = await varnishCounters(stack.cdn!.pid);
const kernel1 = kernel();
const load1 = loadAvg();
ncsa.kill();
health.kill();
await stack.stop();

const varnish: Record<string, number> = {};
for (const k of COUNTERS) if (after[k] !== undefined) varnish[k] = after[k]! - (before[k] ?? 0);
const statuses = mergeCounts(results.map((r) => r.statuses));
const failures = mergeCounts(results.map((r) => r.failures));
const resent = mergeCounts(results.map((r) => r.resent));
const healthLines = readFileSync(join(OUT, 'backend-health.log'), 'utf8').split('\n');
console.log(
  JSON.stringify(
    {
      tool: 'load/failures',
      config: {
        clientHttp: CLIENT_HTTP,
        llClients: N,
        classicClients: N,
        seconds: SEC,
        clientProcs: 4,
        target: 'varnish (deploy VCL) -> one reader',
      },
      requests: results.reduce((a, r) => a + r.requests, 0),
      statuses,
      failures,
      resentOnStaleKeepAlive: resent,
      latencyMsPerProcess: results.map((r) => r.latencyMs),
      clientLoopDelayMs: results.map((r) => r.loopDelayMs),
      varnish,
      varnishParams: params,
      kernel: Object.fromEntries(KERNEL.map((k) => [k, (kernel1[k] ?? 0) - (kernel0[k] ?? 0)])),
      ssMid,
      cores: Object.fromEntries(
        Object.keys(cpu0).map((k) => [k, Math.round(((cpu1[k]! - cpu0[k]!) / elapsed) * 100) / 100]),
      ),
      topMid,
      loadAverage: { before: load0, mid: loadMid, after: load1 },
      backendWentSick: healthLines.filter((l) => /Went sick/.test(l)).length,
      logs: OUT,
    },
    null,
    2,
  ),
);
process.exit(0);
