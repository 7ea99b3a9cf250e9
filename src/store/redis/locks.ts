/** PublisherLocks on Redis: a lease per stream, taken, refreshed and released by compare-and-set scripts. */
import type { PublisherLocks } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';
import { build, run } from './scripts.js';

export class RedisPublisherLocks implements PublisherLocks {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async claim(stream: string, holder: string, ttlMs: number): Promise<boolean> {
    return (
      (await run(
        this.redis,
        'claimLock',
        build.claimLock(this.keys.stream(stream), { holder, ttlMs, take: true }),
      )) === 1
    );
  }

  async refresh(stream: string, holder: string, ttlMs: number): Promise<void> {
    await run(
      this.redis,
      'claimLock',
      build.claimLock(this.keys.stream(stream), { holder, ttlMs, take: true }),
    );
  }

  async release(stream: string, holder: string): Promise<void> {
    await run(this.redis, 'releaseLock', build.releaseLock(this.keys.stream(stream), { holder }));
  }
}
