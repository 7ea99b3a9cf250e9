import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

/** Lua scripts in src/store/lua, named verbNoun-<numKeys>.lua (BullMQ's convention). */
const SCRIPTS = ['publishInit-3', 'publishPart-4', 'publishSegment-7', 'storeManifest-1'] as const;

export interface WellspringRedis extends Redis {
  publishInit(...args: Array<string | Buffer | number>): Promise<number>;
  publishPart(...args: Array<string | Buffer | number>): Promise<number>;
  publishSegment(...args: Array<string | Buffer | number>): Promise<number>;
  storeManifest(...args: Array<string | Buffer | number>): Promise<number>;
}

/** Registers the Lua scripts on a connection (EVALSHA with automatic reload). */
export function withScripts(redis: Redis): WellspringRedis {
  for (const file of SCRIPTS) {
    const [name, keys] = file.split('-') as [string, string];
    const lua = readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: Number(keys), lua });
  }
  return redis as WellspringRedis;
}

/**
 * A connection for commands. Fails commands fast while disconnected (the callers retry with their own
 * backoff and bounded buffers) instead of queueing them without limit.
 */
export function connectRedis(url: string, options: RedisOptions = {}): WellspringRedis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
    ...options,
  });
  // Connection errors are reported by the components that use the connection; keep ioredis from throwing.
  redis.on('error', () => undefined);
  return withScripts(redis);
}
