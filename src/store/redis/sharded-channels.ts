/**
 * Sharded pub/sub channels on one subscriber connection (SSUBSCRIBE: each channel on its key's slot, so a Cluster
 * spreads the traffic): the first listener of a channel subscribes, later ones share it, and the channel stays
 * subscribed for `lingerMs` after its last listener leaves, so a watched channel costs one SSUBSCRIBE, not one per
 * waiter. Used by the event bus (a channel per stream) and the object store (a channel per uploading path).
 */
import type { Subscription } from '../ports.js';
import type { Client } from './connection.js';

interface Channel<M> {
  listeners: Set<(m: M) => void>;
  ready: Promise<void>;
  linger?: NodeJS.Timeout;
}

export class ShardedChannels<M> {
  private readonly channels = new Map<string, Channel<M>>();

  constructor(
    private readonly sub: Client,
    private readonly lingerMs: number,
    /** Undefined for a message that cannot be parsed (dropped). */
    private readonly parse: (raw: string) => M | undefined,
  ) {
    sub.on('smessage', (channel: string, message: string) => this.dispatch(channel, message));
  }

  listen(name: string, fn: (m: M) => void): Subscription {
    let ch = this.channels.get(name);
    if (!ch) {
      const c: Channel<M> = { listeners: new Set(), ready: this.sub.ssubscribe(name).then(() => undefined) };
      // A failed subscribe is retried by the next listener; this one's wait times out as usual.
      c.ready.catch(() => {
        if (this.channels.get(name) === c) this.channels.delete(name);
      });
      this.channels.set(name, c);
      ch = c;
    }
    const channel = ch;
    if (channel.linger) {
      clearTimeout(channel.linger);
      channel.linger = undefined;
    }
    channel.listeners.add(fn);
    let closed = false;
    return {
      ready: channel.ready,
      close: () => {
        if (closed) return;
        closed = true;
        channel.listeners.delete(fn);
        if (channel.listeners.size === 0) this.scheduleUnsubscribe(name, channel);
      },
    };
  }

  /** Listeners currently attached, over every channel. */
  get listeners(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.listeners.size;
    return n;
  }

  close(): void {
    for (const c of this.channels.values()) clearTimeout(c.linger);
    this.channels.clear();
  }

  private scheduleUnsubscribe(name: string, ch: Channel<M>): void {
    ch.linger = setTimeout(() => {
      if (ch.listeners.size > 0 || this.channels.get(name) !== ch) return;
      this.channels.delete(name);
      this.sub.sunsubscribe(name).catch(() => undefined);
    }, this.lingerMs);
    ch.linger.unref();
  }

  private dispatch(channel: string, message: string): void {
    const ch = this.channels.get(channel);
    if (!ch) return;
    const m = this.parse(message);
    if (m === undefined) return;
    for (const l of [...ch.listeners]) l(m);
  }
}
