/**
 * What viewers see when the reader process stalls (a long garbage collection, a CPU taken by other processes) while
 * Redis is healthy: N LL-HLS + N classic clients straight at one reader, and every EVERY_SEC the reader is stopped
 * (SIGSTOP) for STALL_MS and resumed, STALLS times. Each stop comes as a new part is announced (this process hears
 * the same event as the reader), when the reader reads that part from Redis once for every request it releases:
 * the stop then falls between that read and its answer. Prints JSON: the clients' statuses and failures by cause
 * (the reader's error code, e.g. 503 STORE_UNAVAILABLE) and the first failed requests. A stall must cost viewers
 * time, never an error: Redis answered.
 *
 *   N=200 STALL_MS=1300 EVERY_SEC=3 STALLS=20 npx tsx tools/load/reader-stall.ts
 */
import { type LoadClientsResult, mergeCounts } from './clients.js';
import { CLIENT_HTTP, LOAD_LADDER, startClients, startStack } from './stack.js';

const N = Number(process.env.N ?? 200);
const STALL_MS = Number(process.env.STALL_MS ?? 1300);
const EVERY_SEC = Number(process.env.EVERY_SEC ?? 3);
const STALLS = Number(process.env.STALLS ?? 20);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const stack = await startStack({ stream: 'load', segmentSec: 2, partSec: 0.25, cdn: false });
const stalls: Array<{ at: string; ms: number }> = [];
let results: LoadClientsResult[] = [];
let clients: Awaited<ReturnType<typeof startClients>> | undefined;
try {
  clients = await startClients(stack, 'load', {
    base: stack.readerBase,
    rendition: LOAD_LADDER[0]!.name,
    ll: N,
    classic: N,
    procs: 2,
    rampMs: 5000,
    preloadHints: true,
  });
  await sleep(10_000);
  let onPart: (() => void) | undefined;
  const sub = stack.store.events.subscribe('load', (ev) => {
    if (ev.t === 'part' && ev.r === LOAD_LADDER[0]!.name) onPart?.();
  });
  await sub.ready;
  for (let i = 0; i < STALLS; i++) {
    await new Promise<void>((r) => (onPart = r));
    onPart = undefined;
    const t0 = performance.now();
    process.kill(stack.reader.pid!, 'SIGSTOP');
    const at = new Date().toISOString();
    await sleep(STALL_MS);
    process.kill(stack.reader.pid!, 'SIGCONT');
    stalls.push({ at, ms: Math.round(performance.now() - t0) });
    await sleep(EVERY_SEC * 1000);
  }
  sub.close();
  results = await clients.stop();
  clients = undefined;
} finally {
  // Failed part way: the client processes are stopped too.
  await clients?.stop().catch(() => undefined);
  try {
    process.kill(stack.reader.pid!, 'SIGCONT');
  } catch {
    // gone
  }
  await stack.stop();
}

const sum = (pick: (r: LoadClientsResult) => Record<string, Record<string, number>>) =>
  mergeCounts(results.map(pick));
console.log(
  JSON.stringify(
    {
      tool: 'reader-stall',
      config: {
        llClients: N,
        classicClients: N,
        stallMs: STALL_MS,
        everySec: EVERY_SEC,
        clientHttp: CLIENT_HTTP,
      },
      stalls,
      requests: results.reduce((n, r) => n + r.requests, 0),
      statuses: sum((r) => r.statuses),
      failuresByCause: sum((r) => r.failures),
      failureExamples: results.flatMap((r) => r.failureExamples).slice(0, 20),
    },
    null,
    2,
  ),
);
