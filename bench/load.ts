/**
 * npm run bench:load — N LL-HLS clients (blocking reloads, parts, preload hints, like hls.js) and N classic HLS
 * clients on one live stream, first straight at one reader, then through Varnish in front of it, each phase for
 * BENCH_SECONDS (default 300). Clients run in their own processes (tools/load/clients.ts). Prints JSON.
 *
 * Env: BENCH_SECONDS (per phase, default 300), BENCH_CLIENTS (N, default 1000), BENCH_CLIENT_PROCS (default 4),
 * BENCH_TARGETS (default "reader,varnish"), BENCH_PRELOAD_HINTS (default 1), and CPU pinning (tools/load/pin.ts):
 * BENCH_READER_CPUS, BENCH_CLIENT_CPUS, BENCH_STACK_CPUS (taskset lists, e.g. reader "1", clients and stack "0"),
 * so the reader's release is measured on a core the clients do not use; BENCH_CLIENT_NICE (0-19) lowers the
 * clients' scheduling priority instead, so the reader gets the CPU first on cores it shares with them.
 *
 * The reader's own release figures come from its /metrics, read before and after the measured window
 * (wellspring_reader_release_seconds per released reload, wellspring_reader_release_spread_seconds per release):
 * they do not depend on how busy the client processes are.
 */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { type LoadClientsResult, mergeCounts } from '../tools/load/clients.js';
import {
  KERNEL,
  allThreadsCpuNs,
  coresByRole,
  cpuSeconds,
  descendants,
  kernelCounters,
  machineCpuSeconds,
  redisInfo,
  rssBytes,
  treeCpuSeconds,
  varnishCounters,
} from '../tools/load/observe.js';
import {
  affinity,
  autogroupsOn,
  clientNiceFromEnv,
  readerNiceFromEnv,
  pin,
  pinningFromEnv,
  reniceGroup,
} from '../tools/load/pin.js';
import {
  gauge,
  gcByKind,
  gcSeconds,
  histDeltaOfAll,
  loopDelaySinceLastScrape,
  quantiles,
  scrape,
} from '../tools/load/histograms.js';
import { burstCauses, countPer5s, sampleReaderAccept } from '../tools/load/ramp.js';
import { CLIENT_HTTP, LOAD_LADDER, type Stack, startClients, startStack } from '../tools/load/stack.js';
import { summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 300);
const N = Number(process.env.BENCH_CLIENTS ?? 1000);
const PROCS = Number(process.env.BENCH_CLIENT_PROCS ?? 4);
const TARGETS = (process.env.BENCH_TARGETS ?? 'reader,varnish').split(',').filter(Boolean);
const HINTS = process.env.BENCH_PRELOAD_HINTS !== '0';
const STREAM = 'load';
const RENDITION = LOAD_LADDER[0]!.name;
const PIN = pinningFromEnv();
/** Reader processes, each on its own port; straight at them, client process i goes to reader i % READERS. */
const READERS = Math.max(1, Math.floor(Number(process.env.BENCH_READERS ?? 1)) || 1);
if (READERS > PROCS)
  throw new Error(`BENCH_READERS=${READERS} needs as many client processes (BENCH_CLIENT_PROCS=${PROCS})`);
const CLIENT_NICE = clientNiceFromEnv();
const READER_NICE = readerNiceFromEnv();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PART_SEC = 0.25;
const stack: Stack = await startStack({
  stream: STREAM,
  segmentSec: 2,
  partSec: PART_SEC,
  cdn: TARGETS.includes('varnish'),
  readers: READERS,
});
const READER_PIDS = stack.readers.map((r) => r.pid!);
for (const p of READER_PIDS) pin(p, PIN.reader);
/** What each reader's /proc/PID/autogroup reads after BENCH_READER_NICE (undefined when it is 0). */
const READER_GROUPS = READER_PIDS.map((p) => reniceGroup(p, READER_NICE));
if (READER_NICE !== 0 && READER_GROUPS.some((g) => !g?.endsWith(`nice ${READER_NICE}`)))
  throw new Error(`BENCH_READER_NICE=${READER_NICE} not applied: ${JSON.stringify(READER_GROUPS)}`);
for (const p of [stack.redis.pid, stack.ingest.pid, stack.manifest.pid, stack.source.pid, stack.cdn?.pid])
  pin(p, PIN.stack);
// This process forwards announces to the clients and times them: it measures, so it runs with them.
pin(process.pid, PIN.clients, false);
/** Where the reader and the rest run (read back after pinning). */
const RUNS_ON = { reader: affinity(stack.reader.pid), ingest: affinity(stack.ingest.pid) };

/** Which part of the run each process is (for coresByRole), read now: ffmpeg children may be replaced over a run. */
function roles(clientPids: readonly number[]): Map<number, string> {
  const m = new Map<number, string>();
  const tree = (pid: number | undefined, role: string, kids = role): void => {
    if (!pid) return;
    m.set(pid, role);
    for (const d of descendants(pid)) m.set(d, kids);
  };
  tree(stack.ingest.pid, 'ingest', 'transcoder ffmpeg');
  tree(stack.source.pid, 'source ffmpeg');
  tree(stack.manifest.pid, 'manifest worker');
  tree(stack.redis.pid, 'redis-server');
  tree(stack.cdn?.pid, 'varnish');
  for (const p of READER_PIDS) tree(p, 'reader');
  for (const p of clientPids) tree(p, 'load clients');
  m.set(process.pid, 'bench (announce timing)');
  return m;
}

async function phase(target: string): Promise<Record<string, unknown>> {
  const base = target === 'varnish' ? stack.cdnBase! : stack.readerBase;
  const rampMs = Math.min(15_000, SECONDS * 100);
  const startedAt = new Date().toISOString();
  const kernel0 = kernelCounters();
  const gcBeforeRamp = sum(await scrapeReaders(), gcSeconds);
  // The first reader's (with several, the others' queues are not sampled).
  const accept = sampleReaderAccept(stack.reader.pid!, stack.readerPort);
  const acceptT0 = performance.timeOrigin + performance.now(); // the sampler's clock, as wall time
  const clients = await startClients(stack, STREAM, {
    base,
    bases: target === 'varnish' ? undefined : stack.readerBases,
    rendition: RENDITION,
    ll: N,
    classic: N,
    procs: PROCS,
    rampMs,
    preloadHints: HINTS,
    nice: CLIENT_NICE,
  });
  for (const p of clients.pids) pin(p, PIN.clients);
  const clientGroups = clients.pids.map((p) => reniceGroup(p, CLIENT_NICE));
  const clientCpus = affinity(clients.pids[0]);
  await sleep(rampMs + 2000);
  const t0 = performance.now();
  const windowFrom = new Date().toISOString();
  const threads0 = allThreadsCpuNs();
  const machine0 = machineCpuSeconds();
  const roles0 = roles(clients.pids);
  const cpu0 = sum(READER_PIDS, cpuSeconds);
  const redis0 = await redisInfo(stack.redis.port);
  const cdnCpu0 = stack.cdn ? treeCpuSeconds(stack.cdn.pid) : NaN;
  const vs0 = stack.cdn ? await varnishCounters(stack.cdn.pid) : undefined;
  const clientCpu0 = sum(clients.pids, cpuSeconds);
  const hist0 = await scrapeReaders();
  const gcInRamp = sum(hist0, gcSeconds) - gcBeforeRamp;
  const rss: number[] = [];
  const opsSamples: number[] = [];
  const end = t0 + Math.max(1000, SECONDS * 1000 - rampMs - 2000);
  while (performance.now() < end) {
    rss.push(sum(READER_PIDS, rssBytes));
    if (rss.length % 5 === 0)
      opsSamples.push(Number((await redisInfo(stack.redis.port)).instantaneous_ops_per_sec));
    await sleep(1000);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const windowTo = new Date().toISOString();
  const threads1 = allThreadsCpuNs();
  const machine1 = machineCpuSeconds();
  const cores = coresByRole(
    threads0,
    threads1,
    new Map([...roles0, ...roles(clients.pids)]),
    elapsed,
    new Set(READER_PIDS),
  );
  const cpu1 = sum(READER_PIDS, cpuSeconds);
  const redis1 = await redisInfo(stack.redis.port);
  const cdnCpu1 = stack.cdn ? treeCpuSeconds(stack.cdn.pid) : NaN;
  const vs1 = stack.cdn ? await varnishCounters(stack.cdn.pid) : undefined;
  const clientCpu1 = sum(clients.pids, cpuSeconds);
  const hist1 = await scrapeReaders();
  const results: LoadClientsResult[] = await clients.stop();
  const kernel1 = kernelCounters();
  const acceptQueue = await accept.stop();

  const statuses = mergeCounts(results.map((r) => r.statuses));
  const errors: Record<string, Record<string, number>> = {};
  for (const [kind, by] of Object.entries(statuses))
    for (const [s, n] of Object.entries(by))
      // A hinted part that is never produced (its segment closed first) is a documented 404, not an error.
      if (s !== '200' && !(kind === 'hinted-part' && s === '404')) (errors[kind] ??= {})[s] = n;
  // Why they failed (the error code for status 0, the reason phrase otherwise), and the requests a browser would
  // have sent again unseen after a reused keep-alive socket turned out closed (tools/load/clients.ts get()).
  const failuresByCause = mergeCounts(results.map((r) => r.failures));
  const resent = mergeCounts(results.map((r) => r.resent));
  const release = results.flatMap((r) => r.releaseMs);
  const delta = (k: string): number => Number(redis1[k]) - Number(redis0[k]);
  let cdn: Record<string, unknown> | undefined;
  if (vs0 && vs1) {
    const d = (k: string): number => (vs1[k] ?? 0) - (vs0[k] ?? 0);
    const hits = d('cache_hit');
    const misses = d('cache_miss');
    cdn = {
      clientRequests: d('client_req'),
      backendRequests: d('backend_req'),
      cacheHit: hits,
      cacheMiss: misses,
      cacheHitpass: d('cache_hitpass'),
      cacheHitmiss: d('cache_hitmiss'),
      busySleep: d('busy_sleep'),
      hitRatio: Math.round((hits / Math.max(1, hits + misses)) * 1e4) / 1e4,
      originOffload: Math.round((1 - d('backend_req') / Math.max(1, d('client_req'))) * 1e4) / 1e4,
      varnishCores: Math.round(((cdnCpu1 - cdnCpu0) / elapsed) * 1000) / 1000,
    };
  }
  return {
    target,
    measuredSeconds: Math.round(elapsed),
    // The measured window's wall clock, e.g. for tools/load/loop-turns-summary.ts FILE FROM TO.
    window: { from: windowFrom, to: windowTo },
    requests: results.reduce((n, r) => n + r.requests, 0),
    statuses,
    errorsAtLiveEdge: errors,
    failuresByCause,
    // Counted over the whole phase, the clients' ramp included (its first requests on new sockets).
    failureExamples: results
      .flatMap((r) => r.failureExamples)
      .sort((a, b) => a.sentAt.localeCompare(b.sentAt))
      .slice(0, 40),
    kernelTcp:
      Object.keys(kernel0).length > 0 && Object.keys(kernel1).length > 0
        ? {
            from: startedAt,
            ...Object.fromEntries(KERNEL.map((k) => [k, (kernel1[k] ?? 0) - (kernel0[k] ?? 0)])),
          }
        : 'nstat unavailable',
    readerAccept: {
      handles: gauge(hist1[0]!, 'wellspring_reader_accept_handles'),
      ...acceptQueue,
      newConnectionsPer5s:
        process.env.LOAD_CLIENT_HTTP !== 'node' && acceptQueue.queueMaxPer5s.length > 0
          ? countPer5s(
              results.flatMap((r) => r.newConnectionSentAt ?? []),
              acceptT0,
              acceptQueue.queueMaxPer5s.length,
            )
          : 'n/a',
      ...(process.env.LOAD_CLIENT_HTTP !== 'node'
        ? burstCauses(results, acceptT0, acceptQueue.queueMaxPer5s.length, rampMs, PART_SEC * 1000)
        : {}),
      gcSecondsInRamp: Math.round(gcInRamp * 1000) / 1000,
      gcSecondsInWindow: Math.round((sum(hist1, gcSeconds) - sum(hist0, gcSeconds)) * 1000) / 1000,
      gcInWindowByKind: gcDelta(hist0, hist1),
    },
    cpu: {
      definition:
        'who had the CPUs over the window: cores (CPU seconds per second) of every thread on the machine, from /proc/PID/task/TID/schedstat, by the process it belongs to (the reader split into its main thread, which runs the event loop, and its other threads, mostly V8 GC helpers; other = processes outside this run, kernel threads such as ksoftirqd; a thread that ended within the window, e.g. each ss the sampler runs, is not counted); machine = /proc/stat busy (steal included) and all CPUs',
      byRole: cores,
      threadsCores: Math.round(Object.values(cores).reduce((a, b) => a + b, 0) * 1000) / 1000,
      // Above threadsCores: threads that ended within the window (short-lived commands), and interrupt time
      // /proc/stat counts that no thread's schedstat holds; the share of each is not measured.
      machineBusyCores: Math.round(((machine1.busy - machine0.busy) / elapsed) * 1000) / 1000,
      machineCores: Math.round(((machine1.total - machine0.total) / elapsed) * 1000) / 1000,
    },
    resentOnStaleKeepAlive: resent,
    blockingReloadRelease: {
      ms: summarize(release),
      heldWhenAnnounced: release.length,
      answeredWithoutHolding: results.reduce((n, r) => n + r.notHeld, 0),
      unmatched: results.reduce((n, r) => n + r.unmatched, 0),
    },
    readerRelease: {
      definition:
        'measured inside the reader, per held blocking reload released by a manifest event: the event heard by the ' +
        'reader -> that reload`s answer written to its socket (wellspring_reader_release_seconds); quantiles ' +
        'interpolated within histogram buckets, with the bucket bounds that hold them',
      ...quantiles(histDeltaOfAll(hist0, hist1, 'wellspring_reader_release_seconds')),
    },
    readerReleaseSpread: {
      definition:
        'per release (one manifest name of one stream): first -> last held reload written (wellspring_reader_release_spread_seconds)',
      ...quantiles(histDeltaOfAll(hist0, hist1, 'wellspring_reader_release_spread_seconds')),
    },
    readerReleaseBatches: histogramDelta(
      histDeltaOfAll(hist0, hist1, 'wellspring_blocking_release_seconds').buckets,
    ),
    preloadHintHeldMs: summarize(results.flatMap((r) => r.hintHeldMs)),
    newConnectionFirstByteMs: summarize(results.flatMap((r) => r.newConnectionFirstByteMs ?? [])),
    // Sent -> last byte of 200 answers per kind, each client process (almost all on kept connections).
    answerMsPerClientProcess: results.map((r) => r.latencyMs),
    reader: {
      processes: READERS,
      // Failed /metrics scrapes (before or after the window): their readers are left out of the histograms above.
      scrapesFailed: [...hist0, ...hist1].filter((t) => !t).length,
      // With several reader processes: all of them (cores, RSS), or the first (event-loop delay, new space).
      cores: Math.round(((cpu1 - cpu0) / elapsed) * 1000) / 1000,
      // Over the window (the scrape before it reset prom-client's histogram): how long an event could wait.
      eventLoopDelayMs: loopDelaySinceLastScrape(hist1[0]!),
      // V8's new space as committed at the end (both semi-spaces, grown on demand up to 2x --max-semi-space-size).
      newSpaceMb:
        Math.round(gauge(hist1[0]!, 'nodejs_heap_space_size_total_bytes', 'space="new"') / 1e5) / 10,
      rssMb: {
        max: Math.round(Math.max(...rss) / 1e5) / 10,
        end: Math.round(rss[rss.length - 1]! / 1e5) / 10,
      },
    },
    redis: {
      opsPerSec: Math.round(delta('total_commands_processed') / elapsed),
      instantaneousOpsPerSec: summarize(opsSamples),
      usedMemoryMb: Math.round(Number(redis1.used_memory) / 1e5) / 10,
    },
    cdn,
    loadClients: {
      processes: PROCS,
      cpus: clientCpus,
      autogroups: CLIENT_NICE > 0 ? clientGroups : 'the benchmark process`s session',
      cores: Math.round(((clientCpu1 - clientCpu0) / elapsed) * 1000) / 1000,
      eventLoopDelayP99Ms: results.map((r) => r.loopDelayMs.p99),
      mediaMb: Math.round(results.reduce((n, r) => n + r.mediaBytes, 0) / 1e5) / 10,
    },
  };
}

/** Collections and seconds per GC kind between two scrapes of every reader. */
function gcDelta(a: string[], b: string[]): Record<string, { count: number; seconds: number }> {
  const byKind = (texts: string[]): Record<string, { count: number; seconds: number }> => {
    const out: Record<string, { count: number; seconds: number }> = {};
    for (const t of texts)
      for (const [k, v] of Object.entries(gcByKind(t))) {
        const o = (out[k] ??= { count: 0, seconds: 0 });
        o.count += v.count;
        o.seconds += v.seconds;
      }
    return out;
  };
  const before = byKind(a);
  return Object.fromEntries(
    Object.entries(byKind(b)).map(([k, v]) => [
      k,
      {
        count: v.count - (before[k]?.count ?? 0),
        seconds: Math.round((v.seconds - (before[k]?.seconds ?? 0)) * 1000) / 1000,
      },
    ]),
  );
}

/** Every reader's /metrics text, in the order of stack.readers (empty if one does not answer). */
const scrapeReaders = (): Promise<string[]> =>
  Promise.all(stack.readerPorts.map((p) => scrape(`http://127.0.0.1:${p}/metrics`)));

/** f summed over xs. */
function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((n, x) => n + f(x), 0);
}

/** Batches per bucket over the window, and the bucket bounds (ms) holding the median and the 99th percentile. */
function histogramDelta(d: Map<string, number>): Record<string, unknown> {
  const les = [...d.keys()];
  const counts = les.map((le) => d.get(le) ?? 0);
  const total = counts[counts.length - 1] ?? 0;
  const at = (q: number): string => {
    const i = counts.findIndex((c) => c >= q * total);
    return i < 0 || total === 0 ? 'n/a' : les[i] === '+Inf' ? '> 500' : `<= ${Number(les[i]) * 1000}`;
  };
  return {
    definition:
      'reader-side, per release batch: manifest event heard by the reader -> the last held reload it satisfied written to its socket (wellspring_blocking_release_seconds)',
    batches: total,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cumulative: Object.fromEntries(les.map((le, i) => [le, counts[i]])),
  };
}

const phases: Array<Record<string, unknown>> = [];
try {
  for (const t of TARGETS) phases.push(await phase(t));
} finally {
  await stack.stop();
}

const gitHead = ((): string => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
console.log(
  JSON.stringify(
    {
      bench: 'load',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, commit: gitHead },
      config: {
        ...stack.configDescription,
        secondsPerPhase: SECONDS,
        llHlsClients: N,
        classicHlsClients: N,
        clientProcesses: PROCS,
        clientHttp: CLIENT_HTTP,
        rendition: RENDITION,
        llClient:
          'hls.js-like: plain load, then blocking reloads _HLS_msn/_HLS_part(+_HLS_skip=YES) for the preload-hinted part, ' +
          (HINTS ? 'the preload-hinted part requested at the same time, ' : '') +
          'newly listed parts not yet fetched',
        classicClient: 'plain playlist reload once per target duration, each new segment fetched once',
        targets: TARGETS,
        measuredWindow: 'after the clients ramp up (spread over min(15 s, 10% of the phase)) and 2 s more',
        clientNice: CLIENT_NICE,
        readerNice: READER_NICE === 0 ? 0 : READER_GROUPS,
        schedAutogroup: autogroupsOn() ?? 'unknown',
        cpuPinning: {
          asked: PIN,
          ...RUNS_ON,
          note: 'taskset CPU lists (tools/load/pin.ts); unset: the scheduler places every process',
        },
      },
      definitions: {
        blockingReloadRelease:
          'for every blocking reload that was sent before its part was announced: the time the client read the last byte of ' +
          'its 200 response minus the time the benchmark`s own Redis subscriber (a separate process from the reader) heard the ' +
          'manifest event that first covered the requested (msn, part) for the rendition; wall clock with sub-ms precision ' +
          '(performance.timeOrigin + performance.now()) in both processes; includes Redis pub/sub delivery to the reader, the ' +
          'reader`s store read and response writing, the CDN if any, and the client process`s event-loop delay',
        preloadHintHeldMs: 'request sent -> last byte for preload-hinted part requests answered 200',
        newConnectionFirstByteMs:
          'the first request on each new client connection (ramp included, answered): sent, before the handshake -> first byte of the answer; against answerMsPerClientProcess (almost all on kept connections) it shows the wait to be accepted and read',
        errorsAtLiveEdge:
          'every non-200 status (0 = connection error or 15 s timeout) by request kind, except 404 on a preload-hinted part (documented: the hinted part is never produced when its segment closes first; listed under statuses)',
        failuresByCause:
          'every non-200 answer by request kind and cause: the error code (with whether the socket was new or reused) for status 0, "status reason" otherwise; hinted-part 404s included',
        failureExamples:
          'the first 40 failed requests of the phase (ramp included) by the time they were sent: kind, URL, status, cause, duration',
        kernelTcp:
          'nstat TCP counters over the whole phase (ramp included), this machine: listen overflows and drops, resets, connections opened',
        readerAccept:
          "the reader's accept queue and main thread, sampled over the whole phase (tools/load/ramp.ts), and its garbage-collection time (wellspring_gc_pause_seconds, every pause; earlier runs read prom-client's nodejs_gc_duration_seconds, which observes only the first of each batch of perf_hooks GC entries and so undercounts collections that come close together: over about the same 275-283 s V8's --trace-gc logged 3,018 scavenges where it counted 2,651 with the default young generation, 13,897 where it counted 6,298 with --max-semi-space-size=4) during the ramp and over the window; handles = the listening handles the reader accepts on (wellspring_reader_accept_handles, what it got, not what was configured); newConnectionsPer5s = the clients' first requests on new connections, answered or failed (raw client only), by when they were sent, in the same 5 s bins as queueMaxPer5s; mainThreadWaitPer5s = the (first) reader's main thread's mean share of wall time waiting for a CPU, same bins; lateReleasesPer5s = client-seen blocking-reload releases longer than one part and than two parts, by when they completed, same bins; newConnectionsByKind = the kind of request each new connection was opened for, in the first 25 s and after; idleClosedPer5s = the players' idle connections their server closed, same bins (straight at the reader: its keep-alive timeout; through Varnish: Varnish's timeout_idle); with several readers, the accept queue and main thread are the first reader's",
        resentOnStaleKeepAlive:
          'requests sent again (up to 3 times) because their reused keep-alive socket had been closed by the server before any answer, as a browser does unseen; not errors unless the resends failed too (then counted in failuresByCause)',
        redisOpsPerSec: 'total_commands_processed delta over the measured window',
        hitRatio:
          'varnish MAIN.cache_hit / (cache_hit + cache_miss) over the window; originOffload = 1 - backend_req/client_req',
      },
      phases,
    },
    null,
    2,
  ),
);
process.exit(0);
