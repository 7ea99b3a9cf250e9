/**
 * bench:chaos (#13): the fault scenarios of test/e2e (faults, faults-encoder, redis-loss) run longer and repeated,
 * each under a player-like viewer through Varnish (tools/viewer). Prints JSON per scenario: the configuration,
 * recovery time after each fault (first new media the viewer received after the process/store was back) with
 * p50/p99 over the repeats, the longest stall, answers by status, sequence numbers going backwards, listed objects
 * missing, URLs with two bodies, and the acceptance rules violated.
 *
 *   CHAOS_REPEATS=5 (faults per scenario)  CHAOS_SCENARIOS=flap,transcoder,... (default: all)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig, redisTarget } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { BullRenderQueue } from '../src/queue/bullmq.js';
import type { MediaEvent } from '../src/store/ports.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { guardChild } from '../tools/process/guard.js';
import { freePort, waitForListen } from '../tools/process/net.js';
import { type EmbeddedRedis, startRedisServer } from '../tools/process/redis-server.js';
import { type EmbeddedCdn, startVarnishCdn } from '../tools/process/varnish.js';
import { publishEncoderArgs } from '../tools/source/test-source.js';
import {
  acceptance,
  type AcceptanceOptions,
  summary,
  untilLive,
  Viewer,
  type ViewerReport,
} from '../tools/viewer/viewer.js';
import { type NodeHandle, startNode } from '../workers/compose.js';
import { summarize } from './stats.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const template = join(root, 'deploy/varnish/wellspring.vcl.template');
const REPEATS = Number(process.env.CHAOS_REPEATS ?? 5);
const ONLY = process.env.CHAOS_SCENARIOS?.split(',');
const LADDER = [
  { name: '360p', height: 360, videoBitrateK: 500, preset: 'ultrafast' as const },
  { name: '240p', height: 240, videoBitrateK: 250, preset: 'ultrafast' as const },
];
const DEFAULTS = { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 30, ladder: LADDER };
const STREAM = 'cam';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string): void => void process.stderr.write(`[chaos] ${msg}\n`);

interface Encoder {
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The publishing encoder: a 640x360 test pattern and tone over RTMP, in real time. */
function encoder(url: string, seconds = 600): Encoder {
  const child = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=640x360:rate=30:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
      ...publishEncoderArgs(30, 800),
      '-f',
      'flv',
      url,
    ],
    { stdio: 'ignore' },
  );
  guardChild(child); // gone with this process, even a SIGKILLed one
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await closed;
    },
  };
}

/** A production entry point (workers/<role>.ts) as a child process with a config file. */
function run(role: 'ingest' | 'manifest' | 'reader', configPath: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'workers', `${role}.ts`)], {
    cwd: root,
    env: { ...process.env, WELLSPRING_CONFIG: configPath, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  guardChild(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    err: () => err,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

interface Env {
  config: Config;
  redis: EmbeddedRedis;
  cdn: EmbeddedCdn;
  node: NodeHandle;
  configPath: string;
  rtmpUrl: string;
  rtmpPort: number;
  readerPort: number;
  cleanup: Array<() => Promise<void>>;
  viewer(): Promise<Viewer>;
  close(): Promise<void>;
}

/**
 * Redis, a node in this process with `roles`, Varnish in front of its reader (and `extraReaders`), a config file
 * for child processes. `rtmpPort` fixed so a restarted ingest child listens where the encoder reconnects.
 */
async function env(o: {
  roles: Array<'ingest' | 'manifest' | 'reader'>;
  aofDir?: string;
  extraReaders?: number[];
}) {
  const redis = await startRedisServer(o.aofDir ? { dir: o.aofDir, appendonly: true } : {});
  const dir = mkdtempSync(join(tmpdir(), 'wellspring-chaos-'));
  const rtmpPort = await freePort();
  const raw = {
    redisUrl: redis.url,
    keyPrefix: `c${randomBytes(4).toString('hex')}`,
    rtmp: { host: '127.0.0.1', port: rtmpPort },
    http: { host: '127.0.0.1', port: 0 },
    defaults: DEFAULTS,
    streams: [{ name: STREAM, key: 'chaos-secret-key', ingest: { type: 'rtmp' } }],
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(raw));
  const config = parseConfig(raw);
  const node = await startNode(config, o.roles, createLogger('silent'), createMetrics());
  const cdn = await startVarnishCdn([node.httpPort!, ...(o.extraReaders ?? [])], template);
  const e: Env = {
    config,
    redis,
    cdn,
    node,
    configPath,
    rtmpUrl: `rtmp://127.0.0.1:${rtmpPort}/live/chaos-secret-key`,
    rtmpPort,
    readerPort: node.httpPort!,
    cleanup: [],
    async viewer() {
      const v = new Viewer({ url: `${cdn.url}/live/${STREAM}/${LADDER[0]!.name}/index.m3u8` }).start();
      e.cleanup.push(async () => void (await v.stop()));
      await v.waitForMedia(0, 60_000);
      return v;
    },
    async close() {
      for (const f of e.cleanup.reverse()) await withTimeout(f(), 15_000, 'cleanup').catch(() => undefined);
      await withTimeout(node.stop(), 20_000, 'node stop').catch((err: Error) => progress(err.message));
      await cdn.stop();
      await e.redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return e;
}

interface Outcome {
  scenario: string;
  config: Record<string, unknown>;
  /** ms from each fault's end (process or store back, encoder reconnected) to the viewer's next new media. */
  recoveryMs: ReturnType<typeof summarize> & { each: number[] };
  longestStallMs: number;
  notOk: unknown;
  errors5xx: ViewerReport['errors5xx'];
  seqBackwards: number;
  missing: number;
  changed: number;
  discontinuities: number;
  violations: string[];
}

function outcome(
  scenario: string,
  config: Record<string, unknown>,
  rep: ViewerReport,
  backs: number[],
  rules: AcceptanceOptions,
  /** When recovery happened after `t` (default: the first new media). */
  firstAfter: (t: number) => number | undefined = (t) => rep.mediaArrivals.find((x) => x > t),
): Outcome {
  const each = backs.map((t) => (firstAfter(t) ?? NaN) - t);
  // The viewer starts before the stream is live: its 404s until the first media are not a fault's doing.
  rules = { ...rules, encoderAway: [untilLive(rep), ...(rules.encoderAway ?? [])] };
  const s = summary(rep);
  return {
    scenario,
    config: { repeats: REPEATS, ...DEFAULTS, ladder: LADDER.map((r) => r.name), ...config },
    recoveryMs: { ...summarize(each.filter((x) => !Number.isNaN(x))), each },
    longestStallMs: rep.longestStallMs,
    notOk: s.notOk,
    errors5xx: rep.errors5xx,
    seqBackwards: rep.backwards.length,
    missing: rep.missing.length,
    changed: rep.changed.length,
    discontinuities: rep.discontinuities,
    violations: acceptance(rep, rules).map((v) => `${v.rule}: ${v.message}`),
  };
}

type Scenario = () => Promise<Outcome>;

const scenarios: Record<string, Scenario> = {
  /** The encoder drops (SIGKILL) and reconnects after `awayMs`; media again within 3 s of each reconnect. */
  async flap() {
    const e = await env({ roles: ['ingest', 'manifest', 'reader'] });
    try {
      let enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      const v = await e.viewer();
      const backs: number[] = [];
      const away: Array<{ from: number; to: number }> = [];
      for (let i = 0; i < REPEATS; i++) {
        await sleep(3000);
        const from = v.mark('encoder dropped');
        await enc.stop('SIGKILL');
        await sleep(500);
        enc = encoder(e.rtmpUrl);
        const back = v.mark('encoder reconnected');
        away.push({ from, to: back });
        backs.push(back);
        // Media of the new session (parts the old one still had in flight do not count).
        for (const end = Date.now() + 15_000; Date.now() < end && !v.firstMediaAfterDiscontinuity(back);)
          await sleep(50);
      }
      await sleep(2000);
      const firsts = new Map(backs.map((t) => [t, v.firstMediaAfterDiscontinuity(t)]));
      const rep = await v.stop();
      await enc.stop();
      const o = outcome(
        'encoder drops and reconnects',
        { awayMs: 500 },
        rep,
        backs,
        { encoderAway: away, minDiscontinuities: REPEATS },
        (t) => firsts.get(t),
      );
      o.violations.push(
        ...o.recoveryMs.each
          .filter((ms) => !(ms <= 3000))
          .map((ms) => `recovery: ${ms} ms after a reconnect (limit 3000)`),
      );
      return o;
    } finally {
      await e.close();
    }
  },

  /** Wellspring's own ffmpeg killed while the encoder stays; media again within 2 s. */
  async transcoder() {
    const e = await env({ roles: ['ingest', 'manifest', 'reader'] });
    try {
      const enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      const v = await e.viewer();
      const backs: number[] = [];
      const respawns: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        // Past the supervisor's 10 s "stable" mark, so each restart gets the first (300 ms) backoff.
        await sleep(11_000);
        const session = e.node.ingest!.sessions.get(STREAM)!;
        const pid = session.transcoderPid;
        const killed = v.mark('transcoder killed');
        session.killTranscoder();
        // Parts the dead ffmpeg had already written may still arrive: count media from the new one only.
        for (const end = Date.now() + 15_000; Date.now() < end; await sleep(20))
          if (session.transcoderPid && session.transcoderPid !== pid) break;
        respawns.push(v.mark('new transcoder running'));
        backs.push(killed);
      }
      await sleep(2000);
      const rep = await v.stop();
      const o = outcome("Wellspring's ffmpeg killed", { everyMs: 11_000 }, rep, backs, {});
      // From each kill to the first media written by the new ffmpeg.
      const each = backs.map((k, i) => (rep.mediaArrivals.find((a) => a > respawns[i]!) ?? NaN) - k);
      o.recoveryMs = { ...summarize(each.filter((x) => !Number.isNaN(x))), each };
      o.violations.push(
        ...each.filter((ms) => !(ms <= 2000)).map((ms) => `recovery: ${ms} ms after a kill (limit 2000)`),
      );
      return o;
    } finally {
      await e.close();
    }
  },

  /** Redis stopped for `downMs` and restarted empty (or from its AOF) while the encoder stays connected. */
  async 'redis-empty'() {
    return redisRestart(false);
  },
  async 'redis-aof'() {
    return redisRestart(true);
  },

  /** Redis flushed under the live encoder (no outage for anyone to notice). */
  async 'redis-flush'() {
    const e = await env({ roles: ['ingest', 'manifest', 'reader'] });
    try {
      const enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      const v = await e.viewer();
      const backs: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        await sleep(4000);
        backs.push(v.mark('flushed'));
        execFileSync('redis-cli', ['-p', String(e.redis.port), 'flushall']);
        await v.waitForMedia(backs.at(-1)!, 15_000).catch(() => undefined);
      }
      await sleep(2000);
      const atReader = await v.recheck({
        all: true,
        expectPresent: false,
        base: `http://127.0.0.1:${e.readerPort}`,
      });
      const rep = await v.stop();
      const o = outcome('Redis flushed under the live encoder', {}, rep, backs, {
        storeWipes: backs,
        recoveries: backs.map((after) => ({ after, withinMs: 5000, what: 'flushed' })),
      });
      o.changed += atReader.changed.length;
      return o;
    } finally {
      await e.close();
    }
  },

  /** One of two readers (a child process) SIGKILLed behind Varnish, then a new one started in its place. */
  async reader() {
    const port = await freePort();
    let e: Env | undefined;
    try {
      e = await env({ roles: ['ingest', 'manifest', 'reader'], extraReaders: [port] });
      const spawnReader = async () => {
        const r = run('reader', e!.configPath, { HTTP_PORT: String(port) });
        await waitForListen(port, 60_000, () => r.err());
        return r;
      };
      let b = await spawnReader();
      e.cleanup.push(() => b.kill());
      const enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      const v = await e.viewer();
      const kills: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        await sleep(2000);
        kills.push(v.mark('reader B killed'));
        await b.kill();
        await sleep(3000);
        b = await spawnReader();
        await sleep(2000); // probes bring it back (3 good of 4, 250 ms apart)
      }
      const rep = await v.stop();
      return outcome('one of two readers killed behind Varnish', { readers: 2 }, rep, kills, {
        noErrors: true,
        maxStall: { ms: 1000, window: { from: kills[0]!, to: rep.endedAt } },
      });
    } finally {
      await e?.close();
    }
  },

  /** A second manifest worker (child) SIGKILLed at a random moment (mid-job or between jobs), then respawned. */
  async manifest() {
    const e = await env({ roles: ['ingest', 'manifest', 'reader'] });
    try {
      const enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      let w = run('manifest', e.configPath);
      e.cleanup.push(() => w.kill());
      const v = await e.viewer();
      const kills: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        await sleep(5000 + Math.floor(Math.random() * 250)); // a child takes ~3 s to start; then renders
        kills.push(v.mark('manifest worker B killed'));
        await w.kill();
        await sleep(2000);
        w = run('manifest', e.configPath);
      }
      await sleep(2000);
      const rep = await v.stop();
      return outcome('one of two manifest workers killed', { workers: 2 }, rep, kills, {
        noErrors: true,
        maxStall: { ms: 1000, window: { from: kills[0]!, to: rep.endedAt } },
      });
    } finally {
      await e.close();
    }
  },

  /**
   * The worst moment to lose a manifest worker: just after it took a render (its lock in Redis, nobody renewing
   * it). Right after a part is announced the child is frozen (SIGSTOP); if BullMQ says it holds a render it is
   * SIGKILLed, otherwise it is let go and caught at a later part. The viewer must see no stall over 1 s.
   */
  async manifestHolding() {
    const e = await env({ roles: ['ingest', 'manifest', 'reader'] });
    const queue = new BullRenderQueue(redisTarget(e.config), e.config.keyPrefix);
    const store = createRedisStore({
      target: redisTarget(e.config),
      prefix: e.config.keyPrefix,
      role: 'command',
      subscribe: true,
    });
    e.cleanup.push(async () => {
      await queue.close();
      await store.close();
    });
    try {
      const enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      let w = run('manifest', e.configPath);
      e.cleanup.push(() => w.kill());
      let waiters: Array<() => void> = [];
      const sub = store.events.subscribe(STREAM, (ev: MediaEvent) => {
        if (ev.t !== 'part') return;
        for (const f of waiters) f();
        waiters = [];
      });
      await sub.ready;
      e.cleanup.push(async () => sub.close());
      const nextPart = (): Promise<void> => new Promise((r) => waiters.push(r));
      const v = await e.viewer();
      const kills: number[] = [];
      let tries = 0;
      for (let i = 0; i < REPEATS; i++) {
        await sleep(5000); // a child takes ~3 s to start; then renders
        const pid = w.child.pid!;
        // Caught within 20 s (a few tries) or killed where it is: 5 repeats stay inside the scenario's time limit.
        for (const until = Date.now() + 20_000; Date.now() < until;) {
          await nextPart();
          await sleep(tries++ % 4);
          process.kill(pid, 'SIGSTOP');
          const at = Date.now();
          if ((await queue.rendering()).some((r) => r.worker?.endsWith(`:${pid}`))) {
            kills.push(v.mark('manifest worker B killed holding a render', at));
            break;
          }
          process.kill(pid, 'SIGCONT');
          await sleep(50);
        }
        await w.kill();
        await sleep(2000);
        w = run('manifest', e.configPath);
      }
      await sleep(2000);
      const rep = await v.stop();
      return outcome(
        'one of two manifest workers killed holding a render',
        { workers: 2, killsHoldingARender: kills.length, tries },
        rep,
        kills,
        {
          noErrors: true,
          maxStall: { ms: 1000, window: { from: kills[0] ?? rep.endedAt, to: rep.endedAt } },
        },
      );
    } finally {
      await e.close();
    }
  },

  /** The ingest (child) SIGKILLed and restarted while the encoder reconnects; media within 3 s of it listening. */
  async ingest() {
    const e = await env({ roles: ['manifest', 'reader'] });
    try {
      const port = e.rtmpPort;
      const start = async () => {
        const p = run('ingest', e.configPath);
        await waitForListen(port, 60_000, () => p.err());
        return p;
      };
      let ing = await start();
      let enc = encoder(e.rtmpUrl);
      e.cleanup.push(() => enc.stop());
      e.cleanup.push(() => ing.kill());
      const v = await e.viewer();
      const backs: number[] = [];
      const away: Array<{ from: number; to: number }> = [];
      const spawnToListen: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        await sleep(3000);
        const from = v.mark('ingest killed');
        await ing.kill();
        await enc.stop();
        const t0 = Date.now();
        ing = await start();
        spawnToListen.push(Date.now() - t0);
        enc = encoder(e.rtmpUrl);
        const back = v.mark('ingest listening; encoder reconnects');
        away.push({ from, to: back });
        backs.push(back);
        await v.waitForMedia(back, 20_000).catch(() => undefined);
      }
      await sleep(2000);
      const rechecked = await v.recheck({ base: `http://127.0.0.1:${e.readerPort}` });
      const rep = await v.stop();
      const o = outcome(
        'ingest killed and restarted',
        { spawnToListenMs: summarize(spawnToListen) },
        rep,
        backs,
        {
          encoderAway: away,
          recoveries: backs.map((after) => ({ after, withinMs: 3000, what: 'ingest back' })),
        },
      );
      o.missing += rechecked.missing.length;
      return o;
    } finally {
      await e.close();
    }
  },
};

async function redisRestart(aof: boolean): Promise<Outcome> {
  const aofDir = aof ? mkdtempSync(join(tmpdir(), 'wellspring-chaos-aof-')) : undefined;
  const e = await env({ roles: ['ingest', 'manifest', 'reader'], aofDir });
  try {
    const enc = encoder(e.rtmpUrl);
    e.cleanup.push(() => enc.stop());
    const v = await e.viewer();
    const outages: Array<{ from: number; to: number }> = [];
    for (let i = 0; i < REPEATS; i++) {
      await sleep(4000);
      const from = v.mark('redis stopped');
      const port = e.redis.port;
      await e.redis.stop();
      await sleep(2000);
      e.redis = await startRedisServer(aof ? { port, dir: aofDir, appendonly: true } : { port });
      outages.push({ from, to: v.mark('redis back') });
      await v.waitForMedia(outages.at(-1)!.to, 15_000).catch(() => undefined);
    }
    await sleep(2000);
    const atReader = await v.recheck({
      all: true,
      expectPresent: aof,
      base: `http://127.0.0.1:${e.readerPort}`,
    });
    const rep = await v.stop();
    const backs = outages.map((o) => o.to);
    const o = outcome(
      aof ? 'Redis restarted with appendonly yes' : 'Redis restarted without persistence',
      { downMs: 2000, appendonly: aof },
      rep,
      backs,
      {
        storeOutages: outages,
        storeWipes: aof ? [] : backs,
        recoveries: backs.map((after) => ({ after, withinMs: 5000, what: 'Redis back' })),
      },
    );
    o.changed += atReader.changed.length;
    o.missing += atReader.missing.length;
    return o;
  } finally {
    await e.close();
    if (aofDir) rmSync(aofDir, { recursive: true, force: true });
  }
}

/** A scenario that hangs (a process that never comes back) is reported as such and the run goes on. */
const SCENARIO_TIMEOUT_MS = Number(process.env.CHAOS_SCENARIO_TIMEOUT_MS ?? 60_000 + REPEATS * 30_000);
const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms).unref(),
    ),
  ]);

const results: Outcome[] = [];
for (const [name, fn] of Object.entries(scenarios)) {
  if (ONLY && !ONLY.includes(name)) continue;
  progress(`${name} (${REPEATS} faults)...`);
  const t = Date.now();
  try {
    const o = await withTimeout(fn(), SCENARIO_TIMEOUT_MS, name);
    // One JSON line per scenario as it ends (the whole report follows at the end).
    console.log(JSON.stringify(o));
    results.push(o);
    progress(
      `${name}: recovery p50 ${o.recoveryMs.p50} ms, stall ${o.longestStallMs} ms, ${o.violations.length} violations (${Math.round((Date.now() - t) / 1000)} s)`,
    );
  } catch (err) {
    progress(`${name} failed: ${(err as Error).stack}`);
    results.push({ scenario: name, error: (err as Error).message } as unknown as Outcome);
    console.log(JSON.stringify(results.at(-1)));
  }
}
console.log(
  JSON.stringify(
    {
      bench: 'chaos',
      date: new Date().toISOString(),
      repeats: REPEATS,
      viewer: 'tools/viewer LL-HLS through Varnish',
      scenarios: results,
    },
    null,
    2,
  ),
);
process.exit(0);
