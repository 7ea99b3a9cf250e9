/** StreamDirectory on Redis: each stream's meta hash on its own slot, plus a deployment-wide index. */
import type {
  RenditionInfo,
  StoredStreamSettings,
  StreamDirectory,
  StreamLifecycle,
  StreamListing,
  StreamState,
} from '../ports.js';
import { versionFloor } from '../../core/index.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';

export class RedisStreamDirectory implements StreamDirectory {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async mark(
    stream: string,
    settings: StoredStreamSettings,
    state: StreamLifecycle,
    nowMs: number,
  ): Promise<void> {
    const k = this.keys.stream(stream);
    // The stream's own keys change atomically on its slot; the index (another slot on a Cluster) follows.
    const res = await this.redis
      .multi()
      .hexists(k.meta, 'settings')
      .hset(k.meta, 'settings', JSON.stringify(settings), 'state', state)
      .hincrby(k.meta, 'version', 1)
      .exec();
    for (const [err] of res ?? []) if (err) throw err;
    // A stream marked without its settings (new, or lost by the store) counts versions from the clock floor, so
    // a playlist ETag never names two bodies. Raising is done by the only writer of settings; scripts only add.
    const floor = versionFloor(nowMs);
    if (res![0]![1] === 0 && Number(res![2]![1]) < floor)
      await this.redis.hincrby(k.meta, 'version', floor - Number(res![2]![1]));
    await this.redis.zadd(this.keys.streams, nowMs, stream);
  }

  async readState(stream: string): Promise<StreamState> {
    const h = await this.redis.hgetall(this.keys.stream(stream).meta);
    const renditions: RenditionInfo[] = [];
    const maxPartTicks: Record<string, number> = {};
    for (const [f, v] of Object.entries(h)) {
      if (f.startsWith('r:')) renditions.push(JSON.parse(v) as RenditionInfo);
      else if (f.startsWith('maxPart:')) maxPartTicks[f.slice(8)] = Number(v);
    }
    renditions.sort((a, b) => a.order - b.order);
    return {
      version: Number(h.version ?? 0),
      state: (h.state as StreamLifecycle | undefined) ?? 'idle',
      settings: h.settings ? (JSON.parse(h.settings) as StoredStreamSettings) : undefined,
      renditions,
      maxPartTicks,
    };
  }

  async version(stream: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.stream(stream).meta, 'version')) ?? 0);
  }

  async list(limit: number): Promise<StreamListing[]> {
    const flat = await this.redis.zrevrange(this.keys.streams, 0, limit - 1, 'WITHSCORES');
    const entries: Array<{ name: string; updatedAt: number }> = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ name: flat[i]!, updatedAt: Number(flat[i + 1]) });
    // One read per stream (each on its own slot); ioredis pipelines them per node.
    const states = await Promise.all(
      entries.map((e) => this.redis.hget(this.keys.stream(e.name).meta, 'state')),
    );
    return entries.map((e, i) => ({ ...e, state: (states[i] as StreamLifecycle | null) ?? 'unknown' }));
  }
}
