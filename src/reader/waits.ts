/**
 * The one way the reader waits for the ingest or the manifest worker: subscribe to the stream's events, wait
 * until the subscription is live (only then is a check of the store race-free), then take matching events as
 * they come, until a deadline or until the client goes away. Blocking playlist reloads, preload-hinted parts
 * and in-progress segments all use it; nothing polls.
 *
 *   const w = watchEvents({ events, stream, match, timeoutMs, res });
 *   try {
 *     if ((await w.ready()) === 'ready' && !(await check())) ev = await w.next();
 *   } finally { w.close(); }
 */
import type { ServerResponse } from 'node:http';
import type { EventBus, MediaEvent } from '../store/ports.js';

/** Why a wait ended without an event. */
export type WaitEnd = 'timeout' | 'closed';

export interface EventWatch {
  /** Resolves once events published from now on are delivered; 'timeout'/'closed' if that did not happen in time. */
  ready(): Promise<'ready' | WaitEnd>;
  /** The next matching event (queued in arrival order), or why there is none. */
  next(): Promise<MediaEvent | WaitEnd>;
  /** Unsubscribes; idempotent. */
  close(): void;
}

export interface WatchOptions {
  events: EventBus;
  stream: string;
  /** Which events to keep. */
  match: (ev: MediaEvent) => boolean;
  /** Overall budget from now, ms (the whole wait, readiness included). */
  timeoutMs: number;
  /** The response: its 'close' before we answered means the client went away. */
  res: ServerResponse;
}

export function watchEvents(o: WatchOptions): EventWatch {
  const deadline = Date.now() + o.timeoutMs;
  const queue: MediaEvent[] = [];
  let notify: (() => void) | undefined;
  let gone = o.res.destroyed || o.res.socket?.destroyed === true;
  let onGone: (() => void) | undefined;
  const closed = new Promise<'closed'>((resolve) => {
    onGone = () => {
      gone = true;
      resolve('closed');
    };
    o.res.once('close', onGone);
  });
  const sub = o.events.subscribe(o.stream, (ev) => {
    if (!o.match(ev)) return;
    queue.push(ev);
    notify?.();
  });
  let done = false;

  /** Races p against the deadline and the client going away. */
  const bounded = async <T>(p: Promise<T>): Promise<T | WaitEnd> => {
    if (gone) return 'closed';
    const remaining = deadline - Date.now();
    if (remaining <= 0) return 'timeout';
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        closed,
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), remaining))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    ready() {
      return bounded(sub.ready.then(() => 'ready' as const));
    },
    async next() {
      const queued = queue.shift();
      if (queued) return queued;
      const r = await bounded(new Promise<void>((w) => (notify = w)));
      notify = undefined;
      if (r === 'timeout' || r === 'closed') return r;
      return queue.shift()!;
    },
    close() {
      if (done) return;
      done = true;
      sub.close();
      if (onGone) o.res.off('close', onGone);
      notify = undefined;
    },
  };
}
