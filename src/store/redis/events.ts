/**
 * The event bus on Redis: one sharded pub/sub channel per stream (SPUBLISH/SSUBSCRIBE, on the stream's slot), so
 * a reader hears only the streams it is waiting on, and a Cluster spreads the traffic over its masters. A
 * channel stays subscribed for a while after its last listener leaves, so a stream being watched costs one
 * SSUBSCRIBE, not one per request.
 */
import type { EventBus, MediaEvent, Subscription } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';
import { ShardedChannels } from './sharded-channels.js';

type Listener = (ev: MediaEvent) => void;

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
  private readonly channels: ShardedChannels<MediaEvent> | undefined;

  constructor(private readonly o: RedisEventBusOptions) {
    this.keys = new DeploymentKeys(o.prefix);
    this.channels = o.sub
      ? new ShardedChannels<MediaEvent>(o.sub, o.lingerMs ?? 30_000, (raw) => {
          try {
            return JSON.parse(raw) as MediaEvent;
          } catch {
            o.onBadMessage?.(raw);
            return undefined;
          }
        })
      : undefined;
  }

  async publish(ev: MediaEvent): Promise<void> {
    await this.o.pub.spublish(this.keys.stream(ev.s).events, JSON.stringify(ev));
  }

  subscribe(stream: string, fn: Listener): Subscription {
    if (!this.channels) throw new Error('this event bus has no subscriber connection');
    return this.channels.listen(this.keys.stream(stream).events, fn);
  }

  get listeners(): number {
    return this.channels?.listeners ?? 0;
  }

  async close(): Promise<void> {
    this.channels?.close();
  }
}
