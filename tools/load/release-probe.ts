/**
 * The blocking-reload release at N waiting clients, alone (issues #13, #15): one reader process
 * (workers/reader.ts) over a private redis-server, N LL-HLS blocking reloads held on it for the next part by a
 * client process, then one render stored and announced, as the manifest worker does. No encoder, no other
 * traffic: the release is all the reader does. Repeated ROUNDS times on the same keep-alive connections.
 *
 * Reported per round and over all rounds: the reader's own figures from its /metrics (event heard -> each held
 * reload's answer written, per reload; first -> last write, per release; wellspring_reader_release_*), which do
 * not depend on the client process; and what the clients saw (announce -> last byte, wall clock across the two
 * processes), which does.
 *
 *   N=1000 ROUNDS=5 READER_CPUS=1 CLIENT_CPUS=0 npx tsx tools/load/release-probe.ts
 *
 * Env: N (default 1000), ROUNDS (default 5), WARMUP (default 3: rounds run first and reported apart, under
 * `warmupRounds`, not in `overall`: a reader just started runs its write path in V8's interpreter and baseline
 * tiers, and its first thousands of answers cost several times what they cost once optimised; a reader serving
 * 1,000 LL-HLS viewers releases four times a second, so `overall` is the running reader; WARMUP=0 measures the
 * cold start), SETTLE_MS (default 1000: after every request is sent, time for the
 * reader to take them in before the render is announced; a round whose reader figure counts fewer than N
 * releases says so), READER_CPUS / CLIENT_CPUS (taskset lists; the probe itself runs with the clients),
 * REDIS_CPUS (redis-server; default CLIENT_CPUS), READER_HELPER_CPUS (see pinHelperThreads), READER_NODE_ARGS (extra node flags for the reader, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), HINTS=1 (each
 * client also holds a request for the preload-hinted part; the part, PART_BYTES (default 16,000), is stored and
 * announced MANIFEST_AFTER_MS (default 4) before the render, as ingest and manifest worker do), LO_RPS_CPUS (a CPU
 * list: for the run, the loopback's receive processing is steered to those CPUs (Receive Packet Steering,
 * /sys/class/net/lo/queues/rx-0/rps_cpus; root only; restored after). On loopback the receiving clients' TCP work
 * runs in softirq on the CPU that sent the bytes, the reader's, unless steered; across a network it runs on the
 * viewers' machines. With the reader pinned to one CPU, each round reports that CPU's softirq time and its
 * ksoftirqd thread's, so a run without steering shows what it costs the reader. THREADS=1: each round also lists
 * the threads on the machine that ran most (the reader's own V8 helper threads show up here). REFERENCE (default
 * on, 0 = off): after the reader's rounds, the same rounds against the floor (floorMain), reported under `reference`.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { track } from '../../src/adapters/process/children.js';
import { manifestName, objectName, type PartEntry, type SegmentEntry } from '../../src/core/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { freePort, waitForListen } from '../process/net.js';
import { startRedisServer } from '../process/redis-server.js';
import { histDelta, loopDelaySinceLastScrape, quantiles, scrape } from './histograms.js';
import { allThreadsCpuNs, busiestThreads, cpuSplit, kernelOnCpu, schedstat } from './observe.js';
import { affinity, pin } from './pin.js';
import { guardChild } from '../process/guard.js';

const now = (): number => performance.timeOrigin + performance.now();

/** p50 / p99 / max of sorted ms values, to the µs. */
function quantilesOf(sorted: number[]): { n: number; p50: number; p99: number; max: number } {
  const q = (p: number): number =>
    sorted.length
      ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 1000) / 1000
      : NaN;
  return { n: sorted.length, p50: q(0.5), p99: q(0.99), max: q(1) };
}

/** Extra node flags for the reader (READER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
const readerNodeArgs = (): string[] => (process.env.READER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const RPS_FILE = '/sys/class/net/lo/queues/rx-0/rps_cpus';

/** Steers the loopback's receive processing to `cpus` (a taskset list); returns how to put it back. */
function steerLoopback(cpus: string): () => void {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cpus)) throw new Error(`LO_RPS_CPUS="${cpus}" is not a CPU list`);
  const mask = cpus
    .split(',')
    .flatMap((r) => {
      const [a, b] = r.split('-').map(Number);
      return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
    })
    .reduce((m, c) => m | (1 << c), 0);
  const before = readFileSync(RPS_FILE, 'utf8').trim();
  writeFileSync(RPS_FILE, mask.toString(16));
  return () => writeFileSync(RPS_FILE, before);
}

/**
 * READER_HELPER_CPUS: every thread of the reader but its main thread (V8's GC and compiler helpers, libuv's pool)
 * moved to these CPUs, as on a machine with a core to spare for them; the main thread keeps READER_CPUS.
 */
function pinHelperThreads(pid: number, cpus: string | undefined): number {
  if (!cpus) return 0;
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (Number(tid) === pid) continue;
    try {
      execFileSync('taskset', ['-p', '-c', cpus, tid], { stdio: 'ignore' });
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

/** The reader role in a process (and process group) of its own, killed with this one even on SIGKILL. */
function readerProcess(configFile: string): ChildProcess {
  return guardChild(
    track(
      spawn(process.execPath, [...readerNodeArgs(), '--import', 'tsx', 'workers/reader.ts'], {
        env: { ...process.env, WELLSPRING_CONFIG: configFile, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
        detached: true,
      }),
    ),
  );
}

type ToClient = { t: 'round'; url: string; n: number; hintUrl?: string } | { t: 'stop' };
type FromClient =
  | { t: 'sent' }
  | {
      t: 'done';
      /** Last byte of each 200 to a blocking reload (wall clock ms). */
      doneAt: number[];
      statuses: Record<string, number>;
      hintStatuses: Record<string, number>;
    };

/**
 * The client side, in its own process: per round N blocking reloads (and, with a hint URL, N requests for the
 * preload-hinted part, as LL-HLS players send both) on one keep-alive agent.
 */
function clientMain(): void {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  process.on('message', (m: ToClient) => {
    if (m.t === 'stop') {
      agent.destroy();
      process.exit(0);
    }
    const total = m.hintUrl ? 2 * m.n : m.n;
    let sent = 0;
    let left = total;
    const doneAt: number[] = [];
    const statuses: Record<string, number> = {};
    const hintStatuses: Record<string, number> = {};
    const one = (url: string, into: Record<string, number>, times?: number[]): void => {
      const finish = (status: number): void => {
        into[status] = (into[status] ?? 0) + 1;
        if (--left === 0) process.send!({ t: 'done', doneAt, statuses, hintStatuses } satisfies FromClient);
      };
      const req = request(url, { agent, timeout: 30_000 }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if (res.statusCode === 200) times?.push(now());
          finish(res.statusCode ?? 0);
        });
      });
      req.on('finish', () => {
        if (++sent === total) process.send!({ t: 'sent' } satisfies FromClient);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => finish(0));
      req.end();
    };
    for (let i = 0; i < m.n; i++) {
      if (m.hintUrl) one(m.hintUrl, hintStatuses);
      one(m.url, statuses, doneAt);
    }
  });
}

/**
 * The reference (the floor under any Node server on this machine): a bare node:net server in its own process,
 * holding each request it receives until told to release, then writing one prebuilt response (the same status
 * line, headers and body size as the reader's answer) to every held socket in one loop. No HTTP parser beyond
 * finding the end of the request head, no store, no event bus, no metrics: what is left is V8 calling
 * socket.write and the kernel's loopback TCP.
 */
function floorMain(): void {
  const bodyBytes = Number(process.argv[3] ?? 2626);
  const body = '#'.repeat(bodyBytes);
  const answer = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nCache-Control: public, max-age=1\r\n' +
      `ETag: "probe"\r\nContent-Length: ${bodyBytes}\r\nConnection: keep-alive\r\n\r\n${body}`,
  );
  const held: Socket[] = [];
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      for (let i = head.indexOf('\r\n\r\n'); i >= 0; i = head.indexOf('\r\n\r\n')) {
        head = head.slice(i + 4);
        held.push(socket);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    process.send!({ t: 'listening', port: (server.address() as { port: number }).port });
  });
  process.on('message', (m: { t: 'release' } | { t: 'stop' }) => {
    if (m.t === 'stop') process.exit(0);
    const start = performance.now();
    const n = held.length;
    for (const socket of held.splice(0)) socket.write(answer);
    process.send!({ t: 'released', n, loopMs: performance.now() - start });
  });
}

async function probeMain(): Promise<void> {
  const N = Number(process.env.N ?? 1000);
  const ROUNDS = Number(process.env.ROUNDS ?? 5);
  const SETTLE_MS = Number(process.env.SETTLE_MS ?? 1000);
  const HINTS = process.env.HINTS === '1';
  const PART_BYTES = Number(process.env.PART_BYTES ?? 16_000);
  const MANIFEST_AFTER_MS = Number(process.env.MANIFEST_AFTER_MS ?? 4);
  const THREADS = process.env.THREADS === '1';
  const STREAM = 'probe';
  const R = '360p';
  const NAME = manifestName.media(R);
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const unsteer = process.env.LO_RPS_CPUS ? steerLoopback(process.env.LO_RPS_CPUS) : undefined;
  if (unsteer) {
    // Put the loopback back however this process ends.
    process.once('exit', unsteer);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  }
  const redis = await startRedisServer();
  const dir = mkdtempSync(join(os.tmpdir(), 'ws-release-probe-'));
  const port = await freePort();
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      redisUrl: redis.url,
      keyPrefix: 'probe',
      http: { host: '127.0.0.1', port },
      httpIngest: { enabled: false },
    }),
  );
  const reader = readerProcess(configFile);
  const client: ChildProcess = track(
    fork(new URL(import.meta.url).pathname, ['client'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const store = createRedisStore({
    target: { kind: 'standalone', url: redis.url },
    prefix: 'probe',
    role: 'command',
  });
  const stopAll = async (): Promise<void> => {
    if (client.connected) client.send({ t: 'stop' } satisfies ToClient);
    try {
      process.kill(-reader.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    // Its orderly shutdown (a --cpu-prof profile is written at exit), at most 5 s.
    await new Promise<void>((r) => {
      if (reader.exitCode !== null || reader.signalCode !== null) return r();
      reader.once('exit', () => r());
      setTimeout(r, 5000).unref();
    });
    await store.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForListen(port, 30_000, () => 'reader did not listen');
    pin(reader.pid, process.env.READER_CPUS);
    const helpersMoved = pinHelperThreads(reader.pid!, process.env.READER_HELPER_CPUS);
    pin(client.pid, process.env.CLIENT_CPUS);
    pin(process.pid, process.env.CLIENT_CPUS, false);
    // redis-server with the clients unless told otherwise: left unpinned it runs on the reader's core whenever the
    // reader reads a render or hears an event, and the reader waits for it.
    pin(redis.pid, process.env.REDIS_CPUS ?? process.env.CLIENT_CPUS);
    const readerCpu = /^\d+$/.test(process.env.READER_CPUS ?? '')
      ? Number(process.env.READER_CPUS)
      : undefined;
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const body = (msn: number, part: number): string =>
      `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${msn - 5}\n` +
      // About the size of a live LL-HLS playlist (2-3 KB).
      `${'#EXT-X-PART:DURATION=0.25000,URI="part-0.0.m4s",INDEPENDENT=YES\n'.repeat(40)}# at ${msn}.${part}\n`;
    let version = 1;
    const put = async (msn: number, part: number): Promise<void> => {
      const v = version++;
      await store.manifests.store(
        STREAM,
        [{ name: NAME, version: v, body: body(msn, part), msn, part, targetSec: 2, renderedAt: Date.now() }],
        60,
      );
    };
    const next = (t: FromClient['t']): Promise<FromClient> =>
      new Promise((resolve, reject) => {
        const on = (m: FromClient): void => {
          if (m.t !== t) return;
          client.off('message', on);
          resolve(m);
        };
        client.on('message', on);
        client.once('exit', () => reject(new Error('the client process exited')));
      });

    const WARMUP = Number(process.env.WARMUP ?? 3);
    /** The same rounds against the floor server (see floorMain), on the reader's CPUs, after the reader's. */
    const floorRounds = async (): Promise<Record<string, unknown>> => {
      const floor = track(
        fork(new URL(import.meta.url).pathname, ['floor', String(Buffer.byteLength(body(10, 0)))], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        }),
      );
      const fromFloor = <T>(t: string): Promise<T> =>
        new Promise((resolve) => {
          const on = (m: { t: string }): void => {
            if (m.t !== t) return;
            floor.off('message', on);
            resolve(m as T);
          };
          floor.on('message', on);
        });
      try {
        const { port: floorPort } = await fromFloor<{ port: number }>('listening');
        pin(floor.pid, process.env.READER_CPUS);
        const seenAll: number[] = [];
        const floorRoundsOut: Array<Record<string, unknown>> = [];
        for (let k = 0; k < WARMUP + ROUNDS; k++) {
          const sent = next('sent');
          const done = next('done') as Promise<Extract<FromClient, { t: 'done' }>>;
          client.send({ t: 'round', url: `http://127.0.0.1:${floorPort}/floor`, n: N } satisfies ToClient);
          await sent;
          await sleep(SETTLE_MS);
          const s0 = schedstat(floor.pid!);
          const released = fromFloor<{ n: number; loopMs: number }>('released');
          const announcedAt = now();
          floor.send({ t: 'release' });
          const [d, r] = await Promise.all([done, released]);
          const s1 = schedstat(floor.pid!);
          if (k < WARMUP) continue;
          const seen = d.doneAt.map((t) => t - announcedAt).sort((a, b) => a - b);
          seenAll.push(...seen);
          floorRoundsOut.push({
            statuses: d.statuses,
            held: r.n,
            writeLoopMs: Math.round(r.loopMs * 100) / 100,
            clientsSawMs: quantilesOf(seen),
            mainThread: {
              cpuMs: Math.round((s1.cpuNs - s0.cpuNs) / 1e4) / 100,
              runnableWaitingMs: Math.round((s1.waitNs - s0.waitNs) / 1e4) / 100,
            },
          });
        }
        return {
          what:
            'the floor: a bare node:net server (no HTTP parser, store, events or metrics) on the reader`s CPUs, ' +
            'holding the same N requests from the same client process and writing one prebuilt answer of the same size ' +
            'to each in one loop when told; the announce is an IPC message instead of a Redis event',
          overall: { clientsSawMs: quantilesOf(seenAll.sort((a, b) => a - b)) },
          rounds: floorRoundsOut,
        };
      } finally {
        if (floor.connected) floor.send({ t: 'stop' });
        else floor.kill('SIGKILL');
      }
    };
    const rounds: Array<Record<string, unknown>> = [];
    const warmupRounds: Array<Record<string, unknown>> = [];
    const all: number[] = [];
    let first = '';
    let last = '';
    const msn = 10;
    for (let k = 0; k < WARMUP + ROUNDS; k++) {
      // Parts k..k+1 of segment 10 (four parts a segment; the probe only counts, the reader only compares).
      await put(msn + Math.floor(k / 4), k % 4);
      const want = k + 1;
      const [M, P] = [msn + Math.floor(want / 4), want % 4];
      const url = `http://127.0.0.1:${port}/live/${STREAM}/${R}/index.m3u8?_HLS_msn=${M}&_HLS_part=${P}`;
      const hintUrl = HINTS
        ? `http://127.0.0.1:${port}/live/${STREAM}/${R}/${objectName.part(M, P)}`
        : undefined;
      const sent = next('sent');
      const done = next('done') as Promise<Extract<FromClient, { t: 'done' }>>;
      client.send({ t: 'round', url, n: N, hintUrl } satisfies ToClient);
      await sent;
      await sleep(SETTLE_MS);
      const before = await scrape(metricsUrl);
      if (k === WARMUP) first = before;
      const s0 = schedstat(reader.pid!);
      const c0 = cpuSplit(reader.pid!);
      const k0 = readerCpu === undefined ? undefined : kernelOnCpu(readerCpu);
      const t0 = THREADS ? allThreadsCpuNs() : undefined;
      if (HINTS) {
        // As the ingest does: the part's bytes, then its event; the manifest worker's render follows.
        const part: PartEntry = {
          msn: M,
          index: P,
          startTicks: (M * 4 + P) * 1000,
          durationTicks: 1000,
          independent: P === 0,
          byteLength: PART_BYTES,
        };
        const open: SegmentEntry = {
          msn: M,
          discontinuitySeq: 0,
          discontinuity: false,
          initId: 0,
          startTicks: M * 4 * 1000,
          durationTicks: (P + 1) * 1000,
          independent: true,
          byteLength: (P + 1) * PART_BYTES,
          wallClockMs: Date.now(),
          periodStartTicks: 0,
          periodWallClockMs: Date.now(),
          parts: [part],
        };
        await store.media.publishPart(STREAM, R, part, open, Buffer.alloc(PART_BYTES, P), {
          partSec: 60,
          openSec: 60,
        });
        await store.events.publish({ t: 'part', s: STREAM, r: R, msn: M, i: P });
        await sleep(MANIFEST_AFTER_MS);
      }
      const v = version;
      await put(M, P);
      const announcedAt = now();
      await store.events.publish({
        t: 'manifest',
        s: STREAM,
        v,
        pos: { [R]: { msn: M, part: P } },
      });
      const d = await done;
      const s1 = schedstat(reader.pid!);
      const c1 = cpuSplit(reader.pid!);
      const k1 = readerCpu === undefined ? undefined : kernelOnCpu(readerCpu);
      const t1 = THREADS ? allThreadsCpuNs() : undefined;
      const after = await scrape(metricsUrl);
      last = after;
      const seen = d.doneAt.map((t) => t - announcedAt).sort((a, b) => a - b);
      if (k >= WARMUP) all.push(...seen);
      (k < WARMUP ? warmupRounds : rounds).push({
        statuses: d.statuses,
        hintedPartStatuses: HINTS ? d.hintStatuses : undefined,
        reader: quantiles(histDelta(before, after, 'wellspring_reader_release_seconds')),
        readerSpread: quantiles(histDelta(before, after, 'wellspring_reader_release_spread_seconds')),
        clientsSawMs: quantilesOf(seen),
        // Since the scrape before the announce (prom-client resets it at each scrape).
        readerEventLoopDelayMs: loopDelaySinceLastScrape(after),
        readerMainThread: {
          cpuMs: Math.round((s1.cpuNs - s0.cpuNs) / 1e4) / 100,
          cpuUsPerClient: Math.round((s1.cpuNs - s0.cpuNs) / N / 10) / 100,
          runnableWaitingMs: Math.round((s1.waitNs - s0.waitNs) / 1e4) / 100,
          // The whole process (all threads), in 10 ms ticks: user (JS, Node) vs system (the kernel: socket writes).
          processUserMs: Math.round((c1.user - c0.user) * 1000),
          processSystemMs: Math.round((c1.system - c0.system) * 1000),
        },
        readerCpuKernel:
          k0 && k1
            ? {
                softirqMs: k1.softirqMs - k0.softirqMs,
                netRxSoftirqs: k1.netRx - k0.netRx,
                ksoftirqdCpuMs: Math.round((k1.ksoftirqdCpuNs - k0.ksoftirqdCpuNs) / 1e4) / 100,
              }
            : undefined,
        busiestThreads: t0 && t1 ? busiestThreads(t0, t1) : undefined,
      });
    }
    const reference = process.env.REFERENCE === '0' ? undefined : await floorRounds();
    const sorted = all.sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          tool: 'load/release-probe',
          machine: { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg() },
          config: {
            waitingClients: N,
            rounds: ROUNDS,
            warmupRounds: `${WARMUP} (before the rounds, not in overall)`,
            settleMs: SETTLE_MS,
            hintedPartRequests: HINTS
              ? `${N} (one per client), ${PART_BYTES} B part stored and announced ${MANIFEST_AFTER_MS} ms before the render`
              : 'none',
            readerCpus: affinity(reader.pid),
            clientCpus: affinity(client.pid),
            redisCpus: affinity(redis.pid),
            readerHelperThreads: process.env.READER_HELPER_CPUS
              ? `${helpersMoved} threads on ${process.env.READER_HELPER_CPUS}, the main thread on ${process.env.READER_CPUS}`
              : 'with the main thread',
            loopbackReceiveSteeredTo: process.env.LO_RPS_CPUS ?? 'not steered (the sending CPU)',
            playlistBytes: Buffer.byteLength(body(10, 0)),
          },
          definitions: {
            reader:
              'wellspring_reader_release_seconds: the reader hears the manifest event -> each held reload`s answer written to its socket (ms; quantiles interpolated in buckets)',
            readerSpread:
              'wellspring_reader_release_spread_seconds: per release, first -> last answer written',
            clientsSawMs:
              'announce published by this process -> last byte at the client process (wall clock)',
            readerMainThread:
              'the reader`s main thread from just before the announce (before the part, with HINTS) to the last client answer (/proc/PID/schedstat): ' +
              'CPU time it ran (all its work in that interval, the release included), and time it was runnable but ' +
              'waiting for a CPU (what other processes on the machine cost it)',
            readerCpuKernel:
              'the reader`s CPU (READER_CPUS, one CPU) over the same interval: softirq time (10 ms ticks), NET_RX softirqs, and CPU time of its ksoftirqd thread (the softirq work deferred to a thread, which the reader waits behind)',
          },
          overall: {
            reader: quantiles(histDelta(first, last, 'wellspring_reader_release_seconds')),
            readerSpread: quantiles(histDelta(first, last, 'wellspring_reader_release_spread_seconds')),
            clientsSawMs: quantilesOf(sorted),
          },
          rounds,
          warmupRounds,
          reference,
        },
        null,
        2,
      ),
    );
  } finally {
    await stopAll();
  }
  process.exit(0);
}

if (process.argv[2] === 'client') clientMain();
else if (process.argv[2] === 'floor') floorMain();
else await probeMain();
