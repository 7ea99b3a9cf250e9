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
  /**
   * performance.now() when the event last returned by next() reached this watch (before any: when ready()
   * resolved 'ready'; NaN until then). A store read started after it sees everything that event announced, so
   * waiters released by one event may share one read started after their events were heard (media.ts).
   */
  readonly heardAt: number;
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
  /** When each queued event was heard (performance.now()), in step with `queue`. */
  const heard: number[] = [];
  let heardAt = NaN;
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
    heard.push(performance.now());
    notify?.();
  });
  let done = false;
  // One deadline timer for the whole watch (not one per wait): a thousand held requests, a thousand timers.
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), Math.max(0, o.timeoutMs));
  });

  /** Races p against the deadline and the client going away. */
  const bounded = async <T>(p: Promise<T>): Promise<T | WaitEnd> => {
    if (gone) return 'closed';
    if (deadline - Date.now() <= 0) return 'timeout';
    return Promise.race([p, closed, expired]);
  };
  const take = (): MediaEvent => {
    heardAt = heard.shift()!;
    return queue.shift()!;
  };

  return {
    get heardAt() {
      return heardAt;
    },
    async ready() {
      const r = await bounded(sub.ready.then(() => 'ready' as const));
      if (r === 'ready') heardAt = performance.now();
      return r;
    },
    async next() {
      if (queue.length > 0) return take();
      const r = await bounded(new Promise<void>((w) => (notify = w)));
      notify = undefined;
      if (r === 'timeout' || r === 'closed') return r;
      return take();
    },
    close() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.close();
      if (onGone) o.res.off('close', onGone);
      notify = undefined;
    },
  };
}
