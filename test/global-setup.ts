/**
 * Starts one real redis-server on a private port for the whole run, and one Redis Cluster (three masters) beside
 * it. Tests get the server's URL via inject('redisUrl') and use a fresh key prefix or database each; tests of
 * cluster behaviour get the cluster's seed nodes via inject('redisClusterNodes') ("127.0.0.1:p1,127.0.0.1:p2,...")
 * and use a fresh key prefix each.
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from '../tools/process/redis-cluster.js';
import { startRedisServer } from '../tools/process/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterNodes: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, cluster] = await Promise.allSettled([startRedisServer(), startRedisCluster()]);
  if (redis.status === 'rejected' || cluster.status === 'rejected') {
    if (redis.status === 'fulfilled') await redis.value.stop();
    if (cluster.status === 'fulfilled') await cluster.value.stop();
    throw redis.status === 'rejected' ? redis.reason : (cluster as PromiseRejectedResult).reason;
  }
  project.provide('redisUrl', redis.value.url);
  project.provide('redisClusterNodes', cluster.value.seeds);
  return async () => {
    await Promise.all([redis.value.stop(), cluster.value.stop()]);
  };
}
