/**
 * A Redis Sentinel set for the tests: a primary, one replica (`--replicaof`) and three sentinels (`redis-server
 * --sentinel`, quorum 2, down after 1 s, failover timeout 5 s) on free loopback ports, each in its own temp dir
 * without persistence. Ready once every sentinel knows the primary, the replica and the two other sentinels, and
 * the replica is in sync. stop() ends only these processes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.js';
import { type RedisProcess, spawnRedisServer } from './redis-server.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

export interface RedisSentinelSet {
  name: string;
  /** host:port of each sentinel (config `redis.sentinel.sentinels`). */
  sentinels: string[];
  primary: RedisProcess;
  replica: RedisProcess;
  sentinelProcs: RedisProcess[];
  /** The primary's port as the sentinels report it now. */
  primaryPort(): Promise<number | undefined>;
  /** Sentinel's INFO-like view of the monitored set, for error messages. */
  describe(): Promise<string>;
  stop(): Promise<void>;
}

async function cli(bin: string, port: number, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(bin, ['-h', HOST, '-p', String(port), ...args], { timeout: 3000 });
    return stdout;
  } catch (err) {
    return `redis-cli failed: ${(err as Error).message}`;
  }
}

/** `SENTINEL MASTER` answers field/value lines; this reads one field. */
function field(reply: string, name: string): string | undefined {
  const lines = reply.split('\n').map((l) => l.trim());
  const i = lines.indexOf(name);
  return i >= 0 ? lines[i + 1] : undefined;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export async function startRedisSentinel(
  opts: { name?: string; bin?: string; cliBin?: string; readyTimeoutMs?: number } = {},
): Promise<RedisSentinelSet> {
  const name = opts.name ?? 'mymaster';
  const cliBin = opts.cliBin ?? 'redis-cli';
  const [pPort, rPort, ...sPorts] = await distinctFreePorts(5);
  const confDir = mkdtempSync(join(tmpdir(), 'wellspring-sentinel-'));
  const started: RedisProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((p) => p.stop()));
    rmSync(confDir, { recursive: true, force: true });
  };
  try {
    const primary = await spawnRedisServer({ port: pPort!, bin: opts.bin, label: 'redis primary' });
    started.push(primary);
    const replica = await spawnRedisServer({
      port: rPort!,
      bin: opts.bin,
      label: 'redis replica',
      extraArgs: ['--replicaof', HOST, String(pPort)],
    });
    started.push(replica);
    const sentinelProcs: RedisProcess[] = [];
    for (const [i, port] of sPorts.entries()) {
      const file = join(confDir, `sentinel-${i}.conf`);
      writeFileSync(
        file,
        [
          `sentinel monitor ${name} ${HOST} ${pPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          '',
        ].join('\n'),
      );
      const s = await spawnRedisServer({
        port,
        bin: opts.bin,
        configFile: file,
        label: `redis sentinel ${i}`,
        extraArgs: ['--sentinel'],
      });
      started.push(s);
      sentinelProcs.push(s);
    }
    const set: RedisSentinelSet = {
      name,
      sentinels: sPorts.map((p) => `${HOST}:${p}`),
      primary,
      replica,
      sentinelProcs,
      async primaryPort() {
        const r = await cli(cliBin, sPorts[0]!, ['sentinel', 'get-master-addr-by-name', name]);
        const port = Number(r.split('\n')[1]);
        return Number.isInteger(port) && port > 0 ? port : undefined;
      },
      async describe() {
        const parts = await Promise.all(
          sPorts.map(async (p) => `sentinel :${p}\n${await cli(cliBin, p, ['sentinel', 'master', name])}`),
        );
        return parts.join('\n');
      },
      stop: stopAll,
    };
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    for (;;) {
      const views = await Promise.all(sPorts.map((p) => cli(cliBin, p, ['sentinel', 'master', name])));
      const known = views.every(
        (v) =>
          field(v, 'port') === String(pPort) &&
          field(v, 'flags') === 'master' &&
          field(v, 'num-slaves') === '1' &&
          field(v, 'num-other-sentinels') === '2',
      );
      const link = await cli(cliBin, rPort!, ['info', 'replication']);
      if (known && /master_link_status:up/.test(link)) return set;
      if (Date.now() > deadline)
        throw new Error(`the sentinel set did not get ready:\n${views.join('\n')}\nreplica:\n${link}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
}
