/**
 * Following a STREAMING upload (issue #10): write its chunks as they land, then the rest of the object once the
 * upload completes. The same mechanism as an in-progress LL-DASH segment: subscribe first, wait until the
 * subscription is live, then read what is stored and take each announcement as it comes; nothing polls. Used by
 * the object API's GetObject and by the public reader. Depends only on the ObjectStore port.
 */
import type { ObjectEvent, ObjectStore, ObjectUpload } from './ports.js';

export type FollowEnd = 'done' | 'aborted' | 'timeout' | 'closed';

export interface FollowOptions {
  store: ObjectStore;
  path: string;
  upload: ObjectUpload;
  /** Receives the bytes in order. */
  write: (b: Buffer) => void;
  /** The whole follow's budget, ms. */
  timeoutMs: number;
  /** Resolves when the client went away. */
  closed: Promise<unknown>;
}

export async function followUpload(o: FollowOptions): Promise<FollowEnd> {
  const { store, path, upload } = o;
  const deadline = Date.now() + o.timeoutMs;
  const queue: ObjectEvent[] = [];
  let wake: (() => void) | undefined;
  let gone = false;
  void o.closed.then(() => {
    gone = true;
    wake?.();
  });
  const sub = store.watch(path, (ev) => {
    if (ev.id !== upload.id) return;
    queue.push(ev);
    wake?.();
  });
  let timer: NodeJS.Timeout | undefined;
  /** Waits for an event, the deadline or the client leaving. */
  const wait = async (): Promise<'event' | 'timeout' | 'closed'> => {
    if (gone) return 'closed';
    if (queue.length) return 'event';
    const remaining = deadline - Date.now();
    if (remaining <= 0) return 'timeout';
    await new Promise<void>((r) => {
      wake = r;
      timer = setTimeout(r, remaining);
    });
    wake = undefined;
    clearTimeout(timer);
    return gone ? 'closed' : queue.length ? 'event' : 'timeout';
  };
  try {
    const ready = await Promise.race([
      sub.ready.then(() => 'ready' as const),
      o.closed.then(() => 'closed' as const),
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (ready !== 'ready') return ready;
    let next = 0;
    let written = 0;
    for (;;) {
      const cs = await store.chunks(path, upload.id, next);
      if (gone) return 'closed';
      if (cs) {
        for (const c of cs) {
          o.write(c);
          written += c.length;
        }
        next += cs.length;
      } else {
        // The upload is gone: completed (the object names it), or aborted/superseded.
        const meta = await store.describe(path);
        if (!meta || meta.uploadId !== upload.id) return 'aborted';
        if (written < meta.length) {
          const rest = await store.read(path, { start: written, end: meta.length - 1 });
          if (!rest || rest.meta.uploadId !== upload.id) return 'aborted';
          o.write(rest.bytes);
        }
        return 'done';
      }
      const w = await wait();
      if (w !== 'event') return w;
      if (queue.some((e) => e.t === 'abort')) return 'aborted';
      queue.length = 0;
    }
  } finally {
    clearTimeout(timer);
    sub.close();
  }
}
