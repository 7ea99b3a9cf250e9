/** ManifestStore on Redis: one hash per manifest, stored by a script that refuses an older version. */
import type { ManifestStore, ManifestWrite, StoredManifest } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';
import { build, run } from './scripts.js';

export class RedisManifestStore implements ManifestStore {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async read(stream: string, name: string): Promise<StoredManifest | undefined> {
    const [v, body, msn, part, t, target] = await this.redis.hmget(
      this.keys.stream(stream).manifest(name),
      'v',
      'body',
      'msn',
      'part',
      't',
      'target',
    );
    if (body === null || body === undefined || v === null || v === undefined) return undefined;
    return {
      version: Number(v),
      body,
      msn: Number(msn ?? -1),
      part: Number(part ?? -1),
      renderedAt: Number(t ?? 0),
      targetSec: Number(target ?? 0),
    };
  }

  async store(
    stream: string,
    manifests: ManifestWrite[],
    ttlSec: number,
  ): Promise<{ stored: number; refused: number }> {
    const k = this.keys.stream(stream);
    // Every key of the stream is on one slot: one pipeline, one round trip, also on a Cluster.
    const pipeline = this.redis.pipeline();
    for (const m of manifests) void run(pipeline, 'storeManifest', build.storeManifest(k, { ...m, ttlSec }));
    const results = (await pipeline.exec()) ?? [];
    let stored = 0;
    let refused = 0;
    for (const [err, res] of results) {
      if (err) throw err;
      if (res === 1) stored++;
      else refused++;
    }
    return { stored, refused };
  }
}
