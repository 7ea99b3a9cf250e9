/**
 * The event bus on Redis: one sharded pub/sub channel per stream (SPUBLISH/SSUBSCRIBE, on the stream's slot), so
 * a reader hears only the streams it is waiting on, and a Cluster spreads the traffic over its masters. A
 * channel stays subscribed for a while after its last listener leaves, so a stream being watched costs one
 * SSUBSCRIBE, not one per request.
 */
import type { EventBus, MediaEvent, Subscription } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';

type Listener = (ev: MediaEvent) => void;

interface Channel {
  stream: string;
  listeners: Set<Listener>;
  ready: Promise<void>;
  linger?: NodeJS.Timeout;
}

export interface RedisEventBusOptions {
  /** Publishing connection (any command connection). */
  pub: Client;
  /** A connection of its own for subscribing; omit on processes that only publish. */
  sub?: Client;
  prefix: string;
  /** How long a channel stays subscribed without listeners, ms. */
  lingerMs?: number;
  /** Called with events that could not be parsed (logged by the caller). */
  onBadMessage?: (raw: string) => void;
}

export class RedisEventBus implements EventBus {
  private readonly keys: DeploymentKeys;
  private readonly channels = new Map<string, Channel>();
  private readonly byName = new Map<string, Channel>();

  constructor(private readonly o: RedisEventBusOptions) {
    this.keys = new DeploymentKeys(o.prefix);
    o.sub?.on('smessage', (channel: string, message: string) => this.dispatch(channel, message));
  }

  async publish(ev: MediaEvent): Promise<void> {
    await this.o.pub.spublish(this.keys.stream(ev.s).events, JSON.stringify(ev));
  }

  subscribe(stream: string, fn: Listener): Subscription {
    const sub = this.o.sub;
    if (!sub) throw new Error('this event bus has no subscriber connection');
    let ch = this.channels.get(stream);
    if (!ch) {
      const name = this.keys.stream(stream).events;
      const c: Channel = {
        stream,
        listeners: new Set(),
        ready: sub.ssubscribe(name).then(() => undefined),
      };
      // A failed subscribe is retried by the next listener; this one's wait times out as usual.
      c.ready.catch(() => {
        if (this.channels.get(stream) === c) {
          this.channels.delete(stream);
          this.byName.delete(name);
        }
      });
      this.channels.set(stream, c);
      this.byName.set(name, c);
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
        if (channel.listeners.size === 0) this.scheduleUnsubscribe(channel);
      },
    };
  }

  private scheduleUnsubscribe(ch: Channel): void {
    ch.linger = setTimeout(() => {
      if (ch.listeners.size > 0 || this.channels.get(ch.stream) !== ch) return;
      const name = this.keys.stream(ch.stream).events;
      this.channels.delete(ch.stream);
      this.byName.delete(name);
      this.o.sub?.sunsubscribe(name).catch(() => undefined);
    }, this.o.lingerMs ?? 30_000);
    ch.linger.unref();
  }

  private dispatch(channel: string, message: string): void {
    const ch = this.byName.get(channel);
    if (!ch) return;
    let ev: MediaEvent;
    try {
      ev = JSON.parse(message) as MediaEvent;
    } catch {
      this.o.onBadMessage?.(message);
      return;
    }
    for (const l of [...ch.listeners]) l(ev);
  }

  get listeners(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.listeners.size;
    return n;
  }

  async close(): Promise<void> {
    for (const c of this.channels.values()) clearTimeout(c.linger);
    this.channels.clear();
    this.byName.clear();
  }
}
