/**
 * Asset jobs on BullMQ (issue #11): harvests and VOD packaging, one job per asset (jobId from the asset name).
 * Keys share the hash tag {prefix:vod}, so BullMQ's multi-key scripts run on one Redis Cluster slot. A job's lock
 * is renewed while it runs; a worker that dies loses it within LOCK_MS and another worker (or the same process
 * restarted) takes the job over from the start: handlers are idempotent (same keys, same bytes).
 */
import { hostname } from 'node:os';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { RedisTarget } from '../config.js';
import type { Logger } from '../log.js';
import { type Client, connect } from '../store/redis/index.js';
import {
  type AssetJobHandler,
  type AssetJobProgress,
  type AssetJobQueue,
  type AssetJobSpec,
  type AssetJobState,
  type AssetJobView,
  type AssetJobWorker,
  PermanentJobError,
  assetJobId,
} from './ports.js';

const QUEUE = 'assets';
const JOB = 'asset';
/** A job's lock: renewed every half of it while the job runs; a dead worker's job is free again after it. */
const LOCK_MS = 10_000;
const STALLED_CHECK_MS = 5_000;

/** BullMQ's key prefix for asset jobs: a hash tag of its own, apart from the render queue's. */
export const assetQueuePrefix = (prefix: string): string => `{${prefix}:vod}`;

function stateOf(s: string): AssetJobState {
  if (s === 'active') return 'active';
  if (s === 'completed') return 'completed';
  if (s === 'failed') return 'failed';
  return 'waiting';
}

async function view(job: Job<AssetJobSpec>): Promise<AssetJobView> {
  const state = stateOf(await job.getState());
  const p = job.progress as AssetJobProgress | number | undefined;
  return {
    id: job.id!,
    spec: job.data,
    state,
    progress:
      typeof p === 'object' && p !== null
        ? p
        : { percent: state === 'completed' ? 100 : 0, stage: state === 'waiting' ? 'queued' : state },
    ...(job.returnvalue ? { result: job.returnvalue as Record<string, unknown> } : {}),
    ...(job.failedReason ? { error: job.failedReason } : {}),
    attemptsMade: job.attemptsMade,
    createdAtMs: job.timestamp,
    ...(job.finishedOn ? { finishedAtMs: job.finishedOn } : {}),
  };
}

export class BullAssetJobQueue implements AssetJobQueue {
  private readonly queue: Queue<AssetJobSpec>;
  private readonly connection: Client;

  constructor(target: RedisTarget, prefix: string, attempts = 3) {
    this.connection = connect(target, 'queue');
    this.queue = new Queue<AssetJobSpec>(QUEUE, {
      connection: this.connection,
      prefix: assetQueuePrefix(prefix),
      defaultJobOptions: {
        attempts,
        backoff: { type: 'exponential', delay: 1000 },
        // Finished jobs stay answerable (GET /api/v1/jobs/{id}) for a week.
        removeOnComplete: { age: 7 * 86_400 },
        removeOnFail: { age: 7 * 86_400 },
      },
    });
    this.queue.on('error', () => undefined);
  }

  async submit(spec: AssetJobSpec): Promise<{ view: AssetJobView; created: boolean }> {
    const id = assetJobId(spec.asset);
    const old = await this.queue.getJob(id);
    if (old) {
      if ((await old.getState()) !== 'failed') return { view: await view(old), created: false };
      await old.remove();
    }
    const job = await this.queue.add(JOB, spec, { jobId: id });
    return { view: await view(job), created: true };
  }

  async get(id: string): Promise<AssetJobView | undefined> {
    const job = await this.queue.getJob(id);
    return job ? view(job) : undefined;
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

export interface BullAssetWorkerOptions {
  target: RedisTarget;
  prefix: string;
  handler: AssetJobHandler;
  log: Logger;
  /** Jobs at once per process (each may run an ffmpeg). */
  concurrency?: number;
  lockMs?: number;
  stalledCheckMs?: number;
}

export function startBullAssetWorker(o: BullAssetWorkerOptions): AssetJobWorker {
  const log = o.log.child({ component: 'asset-jobs' });
  const connection = connect(o.target, 'queue');
  const worker = new Worker<AssetJobSpec>(
    QUEUE,
    async (job: Job<AssetJobSpec>) => {
      if (job.name !== JOB) return undefined;
      const attempt = job.attemptsMade + 1;
      log.info({ job: job.id, kind: job.data.kind, asset: job.data.asset, attempt }, 'asset job started');
      try {
        return await o.handler(job.data, {
          id: job.id!,
          attempt,
          progress: async (p) => {
            await job.updateProgress(p as unknown as object);
          },
        });
      } catch (err) {
        if (err instanceof PermanentJobError) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    {
      connection,
      prefix: assetQueuePrefix(o.prefix),
      name: `${hostname()}:${process.pid}`,
      concurrency: o.concurrency ?? 1,
      lockDuration: o.lockMs ?? LOCK_MS,
      stalledInterval: o.stalledCheckMs ?? STALLED_CHECK_MS,
      // A job whose worker died is retried from the start; a job that kills its worker every time fails.
      maxStalledCount: 3,
    },
  );
  worker.on('completed', (job) =>
    log.info(
      { job: job.id, asset: job.data.asset, result: job.returnvalue as unknown },
      'asset job completed',
    ),
  );
  worker.on('failed', (job, err) =>
    log.warn(
      { job: job?.id, asset: job?.data.asset, attempts: job?.attemptsMade, err: err.message },
      'asset job failed',
    ),
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'asset worker error'));
  return {
    async close(force = false) {
      await worker.close(force);
      connection.disconnect();
    },
  };
}
