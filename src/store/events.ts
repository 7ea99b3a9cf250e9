/**
 * Events on the deployment's pub/sub channel. The ingest announces each part and segment the moment it is
 * readable; the manifest worker announces each render with every rendition's newest position.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export type MediaEvent =
  | { t: 'part'; s: string; r: string; msn: number; i: number }
  | { t: 'seg'; s: string; r: string; msn: number }
  | { t: 'manifest'; s: string; v: number; pos: Record<string, { msn: number; part: number }> };

type Listener = (ev: MediaEvent) => void;

/** One subscriber connection per process, fanning events out to in-process listeners by stream. */
export class EventHub {
  private listeners = new Map<string, Set<Listener>>();
  private ready: Promise<unknown>;

  constructor(
    private readonly sub: Redis,
    channel: string,
    private readonly log: Logger,
  ) {
    this.ready = sub
      .subscribe(channel)
      .catch((err: unknown) => log.error({ err }, 'event subscription failed'));
    sub.on('message', (_ch: string, msg: string) => this.dispatch(msg));
  }

  async whenReady(): Promise<void> {
    await this.ready;
  }

  private dispatch(msg: string): void {
    let ev: MediaEvent;
    try {
      ev = JSON.parse(msg) as MediaEvent;
    } catch {
      this.log.warn({ msg: msg.slice(0, 200) }, 'unparseable event');
      return;
    }
    const set = this.listeners.get(ev.s);
    if (!set) return;
    for (const l of [...set]) l(ev);
  }

  /** Listens to a stream's events until the returned function is called. */
  listen(stream: string, fn: Listener): () => void {
    let set = this.listeners.get(stream);
    if (!set) {
      set = new Set();
      this.listeners.set(stream, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(stream);
    };
  }

  /** Waiters currently registered (metrics, tests). */
  get size(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    this.sub.disconnect();
  }
}
