/** Operator switches and live health reports on Redis (issue #12). */
import type { HealthBoard, StreamControls, StreamHealthRecord } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';

/** Disabled streams: one set per deployment. */
export class RedisStreamControls implements StreamControls {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async setDisabled(stream: string, disabled: boolean): Promise<void> {
    this.keys.stream(stream); // checks the name
    if (disabled) await this.redis.sadd(this.keys.disabled, stream);
    else await this.redis.srem(this.keys.disabled, stream);
  }

  async isDisabled(stream: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.disabled, stream)) === 1;
  }

  async disabled(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.disabled)).sort();
  }
}

/** Health reports: one JSON value per stream on the stream's slot, expiring unless the ingest refreshes it. */
export class RedisHealthBoard implements HealthBoard {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async report(h: StreamHealthRecord, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.stream(h.stream).health, JSON.stringify(h), 'PX', ttlMs);
  }

  async read(streams: string[]): Promise<Map<string, StreamHealthRecord>> {
    // One GET per stream: the keys live on different slots of a Cluster.
    const values = await Promise.all(streams.map((s) => this.redis.get(this.keys.stream(s).health)));
    const out = new Map<string, StreamHealthRecord>();
    values.forEach((v, i) => {
      if (v) out.set(streams[i]!, JSON.parse(v) as StreamHealthRecord);
    });
    return out;
  }
}
