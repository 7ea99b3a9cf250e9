/**
 * Webhooks (issue #12): every operations event POSTed to each configured URL through BullMQ, with retries and
 * exponential backoff (capped at api.webhookMaxBackoffMs), signed (X-Wellspring-Signature, src/api/signature.ts). The dispatcher follows the event
 * log and adds one job per event and URL under the job id "<event id>_<url index>": BullMQ ignores an add whose
 * id exists, so several dispatchers (one per manifest worker) deliver each event once per attempt chain, and a
 * receiver sees a repeat only when an attempt reached it but its answer did not reach us (at-least-once: the
 * event id is in X-Wellspring-Event-Id and the body for receivers to drop repeats). Completed jobs are kept an
 * hour so a late duplicate add stays a no-op. The queue's keys share one hash tag ({prefix:wh}).
 */
import { type Job, Queue, Worker } from 'bullmq';
import type { RedisTarget } from '../config.js';
import { SIGNATURE_HEADER, sign } from '../api/signature.js';
import type { Logger } from '../log.js';
import type { EventLog, LoggedEvent, Subscription } from '../store/ports.js';
import { type Client, connect } from '../store/redis/index.js';

const QUEUE = 'webhooks';
const JOB = 'deliver';

export const webhookQueuePrefix = (prefix: string): string => `{${prefix}:wh}`;

export interface WebhookTarget {
  url: string;
  secret: string;
}

interface DeliveryData {
  /** Index of the target in the config (the URL and secret are not stored in Redis). */
  target: number;
  event: LoggedEvent;
}

export interface WebhookOptions {
  target: RedisTarget;
  prefix: string;
  eventLog: EventLog;
  webhooks: WebhookTarget[];
  attempts: number;
  timeoutMs: number;
  /** Longest wait between two attempts, ms (the backoff doubles from 500 ms up to it). */
  maxBackoffMs: number;
  log: Logger;
}

export interface WebhookDelivery {
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function startWebhooks(o: WebhookOptions): WebhookDelivery {
  const log = o.log.child({ component: 'webhooks' });
  const queueConn: Client = connect(o.target, 'queue');
  const workerConn: Client = connect(o.target, 'queue');
  const prefix = webhookQueuePrefix(o.prefix);
  const queue = new Queue<DeliveryData>(QUEUE, {
    connection: queueConn,
    prefix,
    defaultJobOptions: {
      attempts: o.attempts,
      backoff: { type: 'capped' },
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
    },
  });
  queue.on('error', () => undefined);

  const follower: Subscription = o.eventLog.follow((event) => {
    o.webhooks.forEach((_, target) => {
      queue
        .add(JOB, { target, event }, { jobId: `${event.id}_${target}` })
        .catch((err: unknown) => log.warn({ err, eventId: event.id }, 'could not queue a webhook delivery'));
    });
  });

  const worker = new Worker<DeliveryData>(
    QUEUE,
    async (job: Job<DeliveryData>) => {
      const t = o.webhooks[job.data.target];
      if (!t) return; // the config no longer has it
      const body = JSON.stringify(job.data.event);
      const res = await fetch(t.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          [SIGNATURE_HEADER]: sign(t.secret, body, Math.floor(Date.now() / 1000)),
          'X-Wellspring-Event-Id': job.data.event.id,
          'X-Wellspring-Event': job.data.event.type,
        },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`receiver answered ${res.status}`);
    },
    {
      connection: workerConn,
      prefix,
      concurrency: 4,
      // Doubling from 500 ms, capped: a receiver back after a long outage is reached within maxBackoffMs.
      settings: {
        backoffStrategy: (attempts: number) => Math.min(500 * 2 ** Math.max(0, attempts - 1), o.maxBackoffMs),
      },
    },
  );
  worker.on('failed', (job, err) => {
    const t = job ? o.webhooks[job.data.target] : undefined;
    // The URL's origin only: a URL may carry a credential in its path or query.
    const to = t ? new URL(t.url).origin : undefined;
    log.warn(
      { to, eventId: job?.data.event.id, attempt: job?.attemptsMade, of: o.attempts, err: err.message },
      'webhook delivery failed',
    );
  });
  worker.on('error', () => undefined);

  return {
    ready: follower.ready,
    async close() {
      follower.close();
      await worker.close();
      await queue.close();
      queueConn.disconnect();
      workerConn.disconnect();
    },
  };
}
