/**
 * Starts one real redis-server on a private port for the whole run; tests get its URL via inject('redisUrl')
 * and use a fresh key prefix or database each.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from '../tools/process/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
