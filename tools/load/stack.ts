/**
 * The pipeline the load and soak benchmarks run against, every role in its own process as in production:
 * redis-server, an ingest (workers/ingest.ts, with its ffmpeg), a manifest worker, one reader, Varnish in front
 * of it (the deploy/ VCL), and a synthetic RTMP source. Plus the pieces that fork load clients
 * (tools/load/clients.ts) and forward manifest announces to them.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { track } from '../../src/adapters/process/children.js';
import { loadConfig, parseConfig, redisTarget } from '../../src/config.js';
import type { MediaEvent, Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { guardChild } from '../process/guard.js';
import { freePort, waitForListen } from '../process/net.js';
import { type EmbeddedRedis, startRedisServer } from '../process/redis-server.js';
import { type EmbeddedCdn, startVarnishCdn } from '../process/varnish.js';
import { testSourceArgs } from '../source/test-source.js';
import type { Announce, LoadClientsOptions, LoadClientsResult } from './clients.js';

/** A lean ladder (two ultrafast rungs) so the 2-core machine has room for clients. */
export const LOAD_LADDER = [
  { name: '360p', height: 360, videoBitrateK: 500, preset: 'ultrafast' as const },
  { name: '240p', height: 240, videoBitrateK: 250, preset: 'ultrafast' as const },
];

export interface StackOptions {
  stream: string;
  segmentSec: number;
  partSec: number;
  /** Start Varnish in front of the reader. */
  cdn: boolean;
  /** `transcoderRecycleSec`; absent: the config's default (a day). */
  transcoderRecycleSec?: number;
  /** Reader processes, each on a port of its own (default 1). */
  readers?: number;
}

/** What the load clients' HTTP client is, for the benchmarks' configuration (LOAD_CLIENT_HTTP). */
export const CLIENT_HTTP =
  process.env.LOAD_CLIENT_HTTP === 'node'
    ? 'node:http, a keep-alive Agent per player'
    : 'raw HTTP/1.1 keep-alive GETs per net.Socket (tools/load/raw-http.ts), up to 4 (LL) or 2 (classic) connections per player';

/** The origin with one source publishing `stream`, live (the load and soak benchmarks). */
export interface Stack extends Origin {
  source: ChildProcess;
  /** The first reader's stream URL base. */
  readerBase: string;
  /** Every reader's, in the order of `readers`. */
  readerBases: string[];
  cdnBase?: string;
  configDescription: Record<string, unknown>;
}

/** The origin processes of a stack with no source yet (bench:cost starts its sources itself). */
export interface OriginOptions {
  segmentSec: number;
  partSec: number;
  /** The `defaults.ladder` of the config (rungs as the config file takes them). */
  ladder: readonly unknown[];
  /** `defaults.windowSec` / `dvrWindowSec`; absent: the config's defaults. */
  windowSec?: number;
  dvrWindowSec?: number;
  /** Start Varnish in front of the reader. */
  cdn: boolean;
  keyPrefix: string;
  /** Subscribe the stack's store to the stream events (default false: no extra subscriber on Redis). */
  subscribe?: boolean;
  /** `transcoderRecycleSec`; absent: the config's default (a day). */
  transcoderRecycleSec?: number;
  /** Reader processes, each on a port of its own (HTTP_PORT), all behind Varnish when it runs (default 1). */
  readers?: number;
}

export interface Origin {
  redis: EmbeddedRedis;
  ingest: ChildProcess;
  manifest: ChildProcess;
  /** The first reader (`readers[0]`). */
  reader: ChildProcess;
  readers: ChildProcess[];
  cdn?: EmbeddedCdn;
  rtmpPort: number;
  /** The first reader's port (`readerPorts[0]`). */
  readerPort: number;
  readerPorts: number[];
  /** The reader's listening settings as its process reads them (the config file and env overrides). */
  readerHttp: { backlog: number; acceptors: number; maxConnections: number };
  /** READER_NODE_ARGS: flags the reader's node process was started with. */
  readerNodeArgs: string[];
  /** The stack's store; with `subscribe`, as a subscriber sees it (announces are timed by its event listener). */
  store: Store;
  /** The synthetic sources started so far, in order. */
  sources: ChildProcess[];
  /** Starts a synthetic RTMP source (ffmpeg test pattern + tone, default 640x360) publishing `stream`. */
  addSource(stream: string, size?: { width: number; height: number }): ChildProcess;
  /** Waits (up to 60 s) until the reader's playlist of `stream`/`rendition` holds `marker`. */
  waitForPlaylist(stream: string, rendition: string, marker: string): Promise<void>;
  /** Stops the sources, then the workers, Varnish, the store and redis-server; removes the temp dir. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const READER_NODE_ARGS = (process.env.READER_NODE_ARGS ?? '').split(' ').filter(Boolean);

function worker(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  stdout: 'ignore' | number = 'ignore',
): ChildProcess {
  return guardChild(
    track(
      spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
        env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', stdout, 'inherit'],
        detached: true,
      }),
    ),
  );
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const origin = await startOrigin({
    segmentSec: o.segmentSec,
    partSec: o.partSec,
    ladder: LOAD_LADDER,
    windowSec: 12,
    dvrWindowSec: 60,
    cdn: o.cdn,
    keyPrefix: 'load',
    subscribe: true,
    transcoderRecycleSec: o.transcoderRecycleSec,
    readers: o.readers,
  });
  try {
    const source = origin.addSource(o.stream);
    await origin.waitForPlaylist(o.stream, LOAD_LADDER[0]!.name, 'PRELOAD-HINT');
    return {
      ...origin,
      source,
      readerBase: `http://127.0.0.1:${origin.readerPort}/live/${o.stream}`,
      readerBases: origin.readerPorts.map((p) => `http://127.0.0.1:${p}/live/${o.stream}`),
      cdnBase: origin.cdn ? `${origin.cdn.url}/live/${o.stream}` : undefined,
      configDescription: {
        source: 'ffmpeg lavfi test pattern 640x360 30 fps + tone, x264 ultrafast, RTMP',
        ladder: LOAD_LADDER.map((r) => `${r.name} ${r.videoBitrateK}k ${r.preset}`).join(', ') + ' + AAC',
        segmentSec: o.segmentSec,
        partSec: o.partSec,
        transcoderRecycleSec: o.transcoderRecycleSec ?? 'default (86400)',
        readerHttp: origin.readerHttp,
        readerNodeArgs: origin.readerNodeArgs.join(' ') || 'none',
        readerProcesses: origin.readers.length,
        processes:
          'redis-server, workers/ingest.ts (+ffmpeg), workers/manifest.ts, workers/reader.ts, varnishd (deploy VCL), each its own process',
      },
    };
  } catch (err) {
    await origin.stop();
    throw err;
  }
}

/** redis-server, ingest, manifest worker and reader (each its own process), Varnish if asked; no source. */
export async function startOrigin(o: OriginOptions): Promise<Origin> {
  const redis = await startRedisServer();
  const dir = mkdtempSync(join(os.tmpdir(), 'ws-load-'));
  const rtmpPort = await freePort();
  const readerPorts: number[] = [];
  for (let i = 0; i < Math.max(1, o.readers ?? 1); i++) readerPorts.push(await freePort());
  const readerPort = readerPorts[0]!;
  const raw = {
    redisUrl: redis.url,
    keyPrefix: o.keyPrefix,
    logLevel: 'warn',
    rtmp: { host: '127.0.0.1', port: rtmpPort },
    http: { host: '127.0.0.1', port: readerPort },
    httpIngest: { enabled: false },
    ...(o.transcoderRecycleSec !== undefined ? { transcoderRecycleSec: o.transcoderRecycleSec } : {}),
    defaults: {
      segmentSec: o.segmentSec,
      partSec: o.partSec,
      ...(o.windowSec !== undefined ? { windowSec: o.windowSec } : {}),
      ...(o.dvrWindowSec !== undefined ? { dvrWindowSec: o.dvrWindowSec } : {}),
      ladder: o.ladder,
    },
  };
  const config = parseConfig(raw);
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(raw));
  const env = { WELLSPRING_CONFIG: configFile };
  const ingest = worker('workers/ingest.ts', env);
  const manifest = worker('workers/manifest.ts', env);
  // READER_NODE_ARGS, e.g. "--max-semi-space-size=64": V8 or Node flags for the reader's process alone;
  // READER_STDOUT=file keeps what they print (--trace-gc) instead of dropping the reader's stdout.
  // With several readers, the second and later print to READER_STDOUT.2, .3, ...
  const readers = readerPorts.map((port, i) => {
    const file = process.env.READER_STDOUT;
    const out = file ? openSync(i === 0 ? file : `${file}.${i + 1}`, 'w') : 'ignore';
    const r = worker('workers/reader.ts', { ...env, HTTP_PORT: String(port) }, READER_NODE_ARGS, out);
    if (typeof out === 'number') closeSync(out);
    return r;
  });
  const reader = readers[0]!;
  const sources: ChildProcess[] = [];
  let cdn: EmbeddedCdn | undefined;
  let store: Store | undefined;
  const group = (c: ChildProcess, sig: NodeJS.Signals): void => {
    try {
      process.kill(-c.pid!, sig);
    } catch {
      // gone
    }
  };
  const exited = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => {
          c.once('exit', () => r());
          setTimeout(() => group(c, 'SIGKILL'), 5000).unref();
        });
  const stop = async (): Promise<void> => {
    for (const s of sources) group(s, 'SIGINT');
    await Promise.all(sources.map(exited));
    for (const c of [...readers, manifest, ingest]) group(c, 'SIGTERM');
    await Promise.all([...readers, manifest, ingest].map(exited));
    await cdn?.stop();
    await store?.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForListen(rtmpPort, 60_000, () => 'ingest did not listen');
    for (const port of readerPorts) await waitForListen(port, 60_000, () => `reader :${port} did not listen`);
    // LOAD_VARNISH_PARAMS: extra varnishd -p settings, space-separated (e.g. "thread_pool_min=500").
    const params = (process.env.LOAD_VARNISH_PARAMS ?? '').split(' ').filter(Boolean);
    cdn = o.cdn
      ? await startVarnishCdn(readerPorts, 'deploy/varnish/wellspring.vcl.template', { params })
      : undefined;
    store = createRedisStore({
      target: redisTarget(config),
      prefix: config.keyPrefix,
      role: 'command',
      subscribe: o.subscribe ?? false,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  // What the reader's process reads (the file and env overrides such as HTTP_ACCEPTORS).
  const readerHttp = loadConfig(configFile, process.env).http;
  return {
    redis,
    ingest,
    manifest,
    reader,
    readers,
    cdn,
    rtmpPort,
    readerPort,
    readerPorts,
    readerNodeArgs: READER_NODE_ARGS,
    readerHttp: {
      backlog: readerHttp.backlog,
      acceptors: readerHttp.acceptors,
      maxConnections: readerHttp.maxConnections,
    },
    store,
    sources,
    addSource(stream, size = { width: 640, height: 360 }) {
      const source = guardChild(
        track(
          spawn('ffmpeg', testSourceArgs({ url: `rtmp://127.0.0.1:${rtmpPort}/live/${stream}`, ...size }), {
            stdio: 'ignore',
            detached: true,
          }),
        ),
      );
      sources.push(source);
      return source;
    },
    async waitForPlaylist(stream, rendition, marker) {
      const url = `http://127.0.0.1:${readerPort}/live/${stream}/${rendition}/index.m3u8`;
      for (let i = 0; ; i++) {
        const r = await fetch(url).catch(() => undefined);
        if (r?.status === 200 && (await r.text()).includes(marker)) return;
        if (i > 300) throw new Error(`stream ${stream} never came up`);
        await sleep(200);
      }
    },
    stop,
  };
}

export interface ClientGroup {
  pids: number[];
  /** Stops the clients and collects their results. */
  stop(): Promise<LoadClientsResult[]>;
}

/**
 * Forks `procs` client processes sharing `ll` and `classic` clients between them, and forwards every manifest
 * announce heard by the stack's subscriber (timed on arrival) to them.
 */
export async function startClients(
  stack: Stack,
  stream: string,
  o: Omit<LoadClientsOptions, 'll' | 'classic'> & {
    /** Client process i goes to bases[i % bases.length] (several readers straight); absent: all to `base`. */
    bases?: readonly string[];
    ll: number;
    classic: number;
    procs: number;
    /**
     * Each client process in a session of its own, its scheduler autogroup at this nice (tools/load/pin.ts
     * reniceGroup); 0 or unset: the clients stay in the caller's session, as before.
     */
    nice?: number;
  },
): Promise<ClientGroup> {
  const kids: ChildProcess[] = [];
  for (let i = 0; i < o.procs; i++) {
    const share = (n: number): number => Math.floor(n / o.procs) + (i < n % o.procs ? 1 : 0);
    const opts: LoadClientsOptions = {
      base: o.bases?.length ? o.bases[i % o.bases.length]! : o.base,
      rendition: o.rendition,
      ll: share(o.ll),
      classic: share(o.classic),
      rampMs: o.rampMs,
      preloadHints: o.preloadHints,
      http: o.http,
    };
    const own = (o.nice ?? 0) > 0;
    const kid = track(
      fork('tools/load/clients.ts', [JSON.stringify(opts)], {
        // LOAD_CLIENT_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": what a client process spends on.
        execArgv: [
          '--import',
          'tsx',
          ...(process.env.LOAD_CLIENT_NODE_ARGS ?? '').split(' ').filter(Boolean),
        ],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        detached: own,
      }),
    );
    // Its own session (so its own autogroup); killed with its group if this process dies.
    kids.push(own ? guardChild(kid) : kid);
  }
  let forwarding = true;
  // A client that has already answered and exited must not take the benchmark down with an EPIPE.
  for (const k of kids) k.on('error', () => undefined);
  const sub = stack.store.events.subscribe(stream, (ev: MediaEvent) => {
    if (ev.t !== 'manifest' || !forwarding) return;
    const at = performance.timeOrigin + performance.now();
    for (const [r, p] of Object.entries(ev.pos)) {
      const a: Announce = { t: 'announce', r, msn: p.msn, part: p.part, at };
      for (const k of kids) if (k.connected) k.send(a);
    }
  });
  await sub.ready;
  return {
    pids: kids.map((k) => k.pid!),
    async stop() {
      forwarding = false;
      const results = await Promise.all(
        kids.map(
          (k) =>
            new Promise<LoadClientsResult>((resolve, reject) => {
              k.once('message', (m: LoadClientsResult) => resolve(m));
              k.once('exit', (code) =>
                reject(new Error(`load client exited with ${code} before its result`)),
              );
              k.send({ t: 'stop' });
            }),
        ),
      );
      sub.close();
      return results;
    },
  };
}
