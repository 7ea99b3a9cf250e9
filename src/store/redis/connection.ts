/**
 * Connections to one standalone Redis, to the primary of a Sentinel-monitored set (ioredis `Redis` with
 * `sentinels`, which follows a failover) or to a Redis Cluster (ioredis `Cluster`), each tuned for its role, with
 * the Lua scripts registered. The rest of the store uses the `Client` type: the command surface of `Redis` and
 * `Cluster` is the same (ioredis' Commander).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../../config.js';
import { applyCommandDeadlines } from './deadline.js';
import { defineScripts } from './scripts.js';

export type Client = Redis;

/**
 * - command: fails commands fast while disconnected (callers retry with their own backoff and bounded buffers);
 * - ingest: as command, with a command timeout that turns a hung Redis into errors the publisher retries;
 * - reader: never queues while disconnected and times out in 1 s: a quick 503, never a hang;
 * - queue: BullMQ's blocking connections (no per-request retry limit);
 * - subscriber: the event bus' subscriber (sharded pub/sub on a Cluster).
 */
export type Role = 'command' | 'ingest' | 'reader' | 'queue' | 'subscriber';

/** Command deadlines per role, ms, judged after the replies already received (deadline.ts, not ioredis' commandTimeout). */
const DEADLINE_MS: Partial<Record<Role, number>> = { ingest: 3000, reader: 1000 };

function roleOptions(role: Role): RedisOptions {
  const base: RedisOptions = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
  switch (role) {
    case 'command':
    case 'subscriber':
      return base;
    case 'ingest':
      return base;
    case 'reader':
      return { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0 };
    case 'queue':
      return { ...base, maxRetriesPerRequest: null };
  }
}

export function connect(target: RedisTarget, role: Role): Client {
  const o = roleOptions(role);
  const deadline = DEADLINE_MS[role];
  let client: Client;
  if (target.kind === 'standalone') {
    client = new Redis(target.url, o);
  } else if (target.kind === 'sentinel') {
    client = new Redis({
      ...o,
      sentinels: target.sentinels,
      name: target.name,
      role: 'master',
      // Hears +switch-master from the sentinels and reconnects at once instead of waiting for the old primary's
      // socket to fail.
      failoverDetector: true,
      sentinelCommandTimeout: 1000,
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
      // A primary demoted to a replica answers writes with READONLY: reconnect (asks the sentinels again) and
      // resend the command.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    });
  } else {
    const { enableOfflineQueue, retryStrategy, ...redisOptions } = o;
    const cluster = new Cluster(target.nodes, {
      redisOptions,
      enableOfflineQueue,
      clusterRetryStrategy: retryStrategy as (times: number) => number,
      // Sharded pub/sub (SSUBSCRIBE): a subscriber connection per master, each hearing only its slots.
      shardedSubscribers: role === 'subscriber',
      slotsRefreshTimeout: 2000,
    });
    // The node connections' own commands (ready check, ASKING) get deadlines too; what the cluster sends on is
    // armed once (deadline.ts).
    if (deadline !== undefined) cluster.on('+node', (node: Redis) => applyCommandDeadlines(node, deadline));
    // Same commands, other class: see the module comment.
    client = cluster as unknown as Client;
  }
  // Connection errors are reported by the components that use the connection; keep ioredis from throwing.
  client.on('error', () => undefined);
  if (deadline !== undefined) applyCommandDeadlines(client, deadline);
  defineScripts(client);
  return client;
}

export function isCluster(client: Client): boolean {
  return (client as unknown) instanceof Cluster;
}
