/**
 * The render queue on BullMQ: one logical job per stream. Bursts coalesce (deduplication by stream id) and a
 * request landing while a job renders schedules exactly one more render (keepLastIfActive). The queue's keys
 * share one hash tag ({prefix:q}) so BullMQ's multi-key scripts run on one Redis Cluster slot.
 */
import { type Job, Queue, Worker } from 'bullmq';
import type { RedisTarget } from '../config.js';
import { type Logger, OutageLog } from '../log.js';
import { type Client, connect } from '../store/redis/index.js';
import type { RenderHandler, RenderQueue, RenderWorker } from './ports.js';

interface RenderJobData {
  stream: string;
}

const QUEUE = 'manifests';
const JOB = 'render';

/** BullMQ's key prefix: a hash tag so every key of the queue is on one slot. */
export const queuePrefix = (prefix: string): string => `{${prefix}:q}`;

export class BullRenderQueue implements RenderQueue {
  private readonly queue: Queue<RenderJobData>;
  private readonly connection: Client;

  constructor(target: RedisTarget, prefix: string) {
    this.connection = connect(target, 'queue');
    this.queue = new Queue<RenderJobData>(QUEUE, {
      connection: this.connection,
      prefix: queuePrefix(prefix),
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
    await this.queue.add(JOB, { stream }, { deduplication: { id: stream, keepLastIfActive: true } });
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

export interface BullRenderWorkerOptions {
  target: RedisTarget;
  prefix: string;
  handler: RenderHandler;
  log: Logger;
  /** Jobs processed at once (different streams). */
  concurrency?: number;
}

export function startBullRenderWorker(o: BullRenderWorkerOptions): RenderWorker {
  const log = o.log.child({ component: 'manifest-worker' });
  const outage = new OutageLog(log, 'Redis (manifest queue)');
  const connection = connect(o.target, 'queue');
  connection.on('ready', () => outage.ok());
  const worker = new Worker<RenderJobData>(
    QUEUE,
    async (job: Job<RenderJobData>) => {
      if (job.name !== JOB) return;
      await o.handler(job.data.stream);
      outage.ok();
    },
    {
      connection,
      prefix: queuePrefix(o.prefix),
      concurrency: o.concurrency ?? 8,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 100 },
    },
  );
  worker.on('failed', (job, err) => {
    if (outage.down) return;
    log.warn(
      { err: err.message, stream: job?.data.stream, attempts: job?.attemptsMade },
      'manifest job failed',
    );
  });
  worker.on('error', (err) => outage.failed(err));
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
