/**
 * The render queue on BullMQ: one logical job per stream. Bursts coalesce (deduplication by stream id) and a
 * request landing while a job renders schedules exactly one more render (keepLastIfActive). The queue's keys
 * share one hash tag ({prefix:q}) so BullMQ's multi-key scripts run on one Redis Cluster slot.
 */
import { hostname } from 'node:os';
import { type Job, Queue, Worker } from 'bullmq';
import type { RedisTarget } from '../config.js';
import { type Logger, OutageLog } from '../log.js';
import { type Client, connect } from '../store/redis/index.js';
import type { RenderHandler, RenderQueue, RenderWorker } from './ports.js';

interface RenderJobData {
  stream: string;
}

const QUEUE = 'manifests';
/** A render's lock (renewed every half of it while the render runs). */
const LOCK_MS = 400;
/** How often the fleet looks for renders whose worker died. */
const STALLED_CHECK_MS = 100;
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

  /** The renders running now, each with the worker that holds it (BullMQ's processedBy: host:pid). */
  async rendering(): Promise<Array<{ stream: string; worker: string | undefined }>> {
    const jobs = await this.queue.getActive();
    return jobs.map((j) => ({ stream: (j.data as RenderJobData).stream, worker: j.processedBy }));
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
      // Names the holder of each running job (processedBy), so an operator can tell which process has it.
      name: `${hostname()}:${process.pid}`,
      concurrency: o.concurrency ?? 8,
      // A worker that dies mid-render must cost viewers well under a second, not a lock timeout: while a render
      // runs (milliseconds) BullMQ renews its lock every lockDuration/2; a dead worker's lock lapses within
      // lockDuration, and the stalled check (every stalledInterval, one worker of the fleet runs it) hands the
      // job to another worker within two checks. Until then keepLastIfActive parks every new render of the
      // stream behind the dead job, so this sum is the freeze: ≤ 400 + 2 x 100 ms, plus the part interval the
      // viewer was already waiting (250 ms) — with 600/200 a kill just after a worker took a render showed the
      // viewer 1.1-1.2 s without media (2 of 5 runs). A worker stalled longer than lockDuration (not dead) loses
      // its job to another worker: renders are idempotent (version re-check).
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: 3,
      // An idle worker blocks on the queue's wake-up marker for at most this long (seconds): a marker handed to a
      // worker that died before reading it delays the next render by no more than this.
      drainDelay: 1,
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
  worker.on('error', (err) => {
    // A render that outlived its lock (its worker stalled past lockDuration) was taken over by another worker.
    if (
      /missing lock|lock mismatch|missing key for job|not in the active state|could not renew lock/i.test(
        err.message,
      )
    )
      log.warn({ err: err.message }, 'render lost its lock');
    else outage.failed(err);
  });
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
