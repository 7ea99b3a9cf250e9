/**
 * The in-memory asset job queue (in-process tests): one job per asset, run by the handler given to process(), one
 * at a time, retried up to `attempts` times unless the handler throws PermanentJobError.
 */
import {
  type AssetJobHandler,
  type AssetJobQueue,
  type AssetJobSpec,
  type AssetJobView,
  type AssetJobWorker,
  PermanentJobError,
  assetJobId,
} from './ports.js';

export class MemoryAssetJobQueue implements AssetJobQueue {
  private readonly jobs = new Map<string, AssetJobView>();
  private readonly waiting: string[] = [];
  private handler: AssetJobHandler | undefined;
  private running: Promise<void> | undefined;

  constructor(readonly attempts = 3) {}

  process(handler: AssetJobHandler): AssetJobWorker {
    this.handler = handler;
    this.kick();
    return { close: async () => void (this.handler = undefined) };
  }

  async submit(spec: AssetJobSpec): Promise<{ view: AssetJobView; created: boolean }> {
    const id = assetJobId(spec.asset);
    const old = this.jobs.get(id);
    if (old && old.state !== 'failed') return { view: { ...old }, created: false };
    const view: AssetJobView = {
      id,
      spec,
      state: 'waiting',
      progress: { percent: 0, stage: 'queued' },
      attemptsMade: 0,
      createdAtMs: Date.now(),
    };
    this.jobs.set(id, view);
    this.waiting.push(id);
    this.kick();
    return { view: { ...view }, created: true };
  }

  async get(id: string): Promise<AssetJobView | undefined> {
    const v = this.jobs.get(id);
    return v ? { ...v } : undefined;
  }

  /** Resolves when no job is waiting or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.running || !this.handler || this.waiting.length === 0) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (let id = this.waiting.shift(); id !== undefined && this.handler; id = this.waiting.shift()) {
      const job = this.jobs.get(id)!;
      job.state = 'active';
      while (job.state === 'active') {
        job.attemptsMade++;
        try {
          job.result = await this.handler(job.spec, {
            id,
            attempt: job.attemptsMade,
            progress: async (p) => void (job.progress = p),
          });
          job.state = 'completed';
        } catch (err) {
          job.error = (err as Error).message;
          if (err instanceof PermanentJobError || job.attemptsMade >= this.attempts) job.state = 'failed';
        }
      }
      job.finishedAtMs = Date.now();
    }
  }

  async close(): Promise<void> {
    this.handler = undefined;
    await this.idle();
  }
}
