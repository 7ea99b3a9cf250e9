/**
 * Which streams have a live publisher. In-process map plus a lease in the store (PublisherLocks, refreshed) so a
 * second publisher on the same stream is refused even when it reaches another ingest instance. The lease's holder
 * is the ingest's instance id, stable across restarts of the same ingest, so a restarted ingest takes back the
 * leases its dead predecessor left (decision 005).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { PublisherLocks } from '../store/ports.js';

/**
 * The holder of this ingest's publisher leases: `instanceId` from the config, else host name and RTMP port (two
 * live ingests cannot share both). With an ephemeral RTMP port (0) nothing about the process is stable, so each
 * start is a new holder.
 */
export function publisherInstanceId(c: { instanceId?: string | undefined; rtmp: { port: number } }): string {
  if (c.instanceId) return c.instanceId;
  return c.rtmp.port === 0 ? randomUUID() : `${hostname()}:${c.rtmp.port}`;
}

const LOCK_TTL_MS = 15_000;
const REFRESH_MS = 5_000;

export class PublisherRegistry {
  private live = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly locks: PublisherLocks,
    readonly instanceId: string,
    private readonly log: Logger,
  ) {}

  has(stream: string): boolean {
    return this.live.has(stream);
  }

  get count(): number {
    return this.live.size;
  }

  /** Claims a stream for this publisher; false if it already has one (here or on another instance). */
  async claim(stream: string): Promise<boolean> {
    if (this.live.has(stream)) return false;
    this.live.set(
      stream,
      setInterval(() => void this.refresh(stream), REFRESH_MS),
    );
    try {
      const ok = await this.locks.claim(stream, this.instanceId, LOCK_TTL_MS);
      if (!ok) {
        clearInterval(this.live.get(stream));
        this.live.delete(stream);
        return false;
      }
    } catch (err) {
      // Redis down: the in-process check still holds; other instances cannot be asked.
      this.log.warn(
        { err, stream },
        'could not take the publisher lock in Redis; accepting on the local check only',
      );
    }
    return true;
  }

  async release(stream: string): Promise<void> {
    const t = this.live.get(stream);
    if (!t) return;
    clearInterval(t);
    this.live.delete(stream);
    try {
      await this.locks.release(stream, this.instanceId);
    } catch {
      // expires by itself
    }
  }

  private async refresh(stream: string): Promise<void> {
    try {
      await this.locks.refresh(stream, this.instanceId, LOCK_TTL_MS);
    } catch {
      // retried on the next tick
    }
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((s) => this.release(s)));
  }
}
