/**
 * BullMQ queue of manifest jobs, one logical job per stream: bursts coalesce (deduplication by stream id) and a
 * part landing while a job renders schedules exactly one more render (keepLastIfActive), so the newest part is
 * never missed and no backlog builds.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface ManifestJobData {
  stream: string;
}

export const MANIFEST_JOB = 'render';

export class ManifestQueue {
  readonly queue: Queue<ManifestJobData>;
  constructor(name: string, connection: Redis) {
    this.queue = new Queue<ManifestJobData>(name, {
      connection,
      defaultJobOptions: {
        removeOnComplete: true,
        removeOnFail: 100,
        attempts: 5,
        backoff: { type: 'exponential', delay: 100 },
      },
    });
    this.queue.on('error', () => undefined);
  }

  async requestRender(stream: string): Promise<void> {
    await this.queue.add(MANIFEST_JOB, { stream }, { deduplication: { id: stream, keepLastIfActive: true } });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
