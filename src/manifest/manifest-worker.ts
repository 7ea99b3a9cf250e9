/**
 * The BullMQ worker that runs manifest jobs. Each job renders one stream; if the stream changed while it
 * rendered, it renders again before finishing, so the newest part always reaches a playlist.
 */
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { type ManifestJobData, MANIFEST_JOB } from '../queue/manifest-queue.js';
import type { MediaStore } from '../store/media-store.js';
import type { ManifestRenderer } from './renderer.js';

export interface ManifestWorkerOptions {
  queueName: string;
  connection: Redis;
  store: MediaStore;
  renderer: ManifestRenderer;
  log: Logger;
  metrics: Metrics;
  /** Jobs processed at once (different streams). */
  concurrency?: number;
}

export class ManifestWorker {
  readonly worker: Worker<ManifestJobData>;
  private readonly log: Logger;

  constructor(private readonly o: ManifestWorkerOptions) {
    this.log = o.log.child({ component: 'manifest-worker' });
    this.worker = new Worker<ManifestJobData>(o.queueName, (job) => this.process(job), {
      connection: o.connection,
      concurrency: o.concurrency ?? 8,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 100 },
    });
    this.worker.on('failed', (job, err) =>
      this.log.warn({ err, stream: job?.data.stream, attempts: job?.attemptsMade }, 'manifest job failed'),
    );
    this.worker.on('error', (err) => this.log.error({ err }, 'manifest worker error'));
  }

  private async process(job: Job<ManifestJobData>): Promise<void> {
    if (job.name !== MANIFEST_JOB) return;
    const { stream } = job.data;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await this.o.renderer.render(stream, Date.now());
      this.o.metrics.manifestRenderSeconds.observe((performance.now() - t0) / 1000);
      if (!r) return;
      // Re-check: a part that landed during the render gets one more pass here (and keepLastIfActive adds a job).
      const now = Number(await this.o.store.redis.hget(this.o.store.keys(stream).meta, 'version'));
      if (now === r.version) return;
    }
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}
