/**
 * An embedded Redis Cluster for tests and benchmarks: N redis-server masters in cluster mode on private loopback
 * ports (each in its own temp dir, no persistence), joined with `redis-cli --cluster create`, ready once every
 * node reports cluster_state:ok. stop() ends only the processes started here.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './net.js';
import { type RedisProcess, spawnRedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface EmbeddedRedisCluster {
  nodes: Array<{ host: string; port: number }>;
  /** "127.0.0.1:p1,127.0.0.1:p2,...": every master, for a cluster client's startup nodes. */
  seeds: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Ports that were free a moment ago, all different (a node needs a client port and a cluster bus port). */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function startNode(port: number, busPort: number, bin: string): Promise<RedisProcess> {
  return spawnRedisServer({
    port,
    bin,
    label: 'redis-server (cluster node)',
    extraArgs: [
      // An explicit bus port: port + 10000 (the default) may be taken or past 65535 for a high ephemeral port.
      '--cluster-port',
      String(busPort),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '5000',
    ],
  });
}

async function clusterInfo(cli: string, port: number): Promise<string> {
  try {
    const { stdout } = await run(cli, ['-h', HOST, '-p', String(port), 'cluster', 'info'], { timeout: 5000 });
    return stdout;
  } catch (err) {
    return `redis-cli failed: ${(err as Error).message}`;
  }
}

/**
 * Starts `masters` (default 3, at least 3: redis-cli will not create a smaller cluster) redis-server processes in
 * cluster mode, assigns all 16384 slots among them with no replicas, and resolves once every node says
 * cluster_state:ok (polled, up to `readyTimeoutMs`, default 60 s).
 */
export async function startRedisCluster(
  opts: { masters?: number; bin?: string; cliBin?: string; readyTimeoutMs?: number } = {},
): Promise<EmbeddedRedisCluster> {
  const masters = opts.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new RangeError(`a Redis Cluster needs at least 3 masters, got ${masters}`);
  }
  const bin = opts.bin ?? 'redis-server';
  const cli = opts.cliBin ?? 'redis-cli';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;

  const ports = await distinctFreePorts(masters * 2);
  const started: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((n) => n.stop()));
  };

  try {
    for (let i = 0; i < masters; i++) started.push(await startNode(ports[i]!, ports[masters + i]!, bin));
    const addrs = started.map((n) => `${HOST}:${n.port}`);

    try {
      await run(cli, ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 60_000,
      });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`redis-cli --cluster create failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }

    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const infos = await Promise.all(started.map((n) => clusterInfo(cli, n.port)));
      if (infos.every((info) => /^cluster_state:ok\r?$/m.test(info))) break;
      for (const n of started) {
        if (n.child.exitCode !== null || n.child.signalCode !== null) {
          throw new Error(`cluster node :${n.port} exited while the cluster formed: ${n.output()}`);
        }
      }
      if (Date.now() > deadline) {
        const states = started.map(
          (n, i) => `:${n.port} ${/cluster_state:\w+/.exec(infos[i]!)?.[0] ?? infos[i]}`,
        );
        throw new Error(`Redis Cluster not ok after ${readyTimeoutMs} ms: ${states.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const nodes = started.map((n) => ({ host: HOST, port: n.port }));
  return {
    nodes,
    seeds: nodes.map((n) => `${n.host}:${n.port}`).join(','),
    stop,
  };
}
