/**
 * The operations event log on Redis: one stream per deployment (XADD with MAXLEN ~ historySize, so the history
 * is bounded and trimmed in whole radix-tree nodes, cheaply), read by id with XRANGE. Followers share one tail
 * loop per process: a connection of its own blocked in XREAD on the stream, fanning each event out in process.
 */
import type { EventLog, LoggedEvent, OpsEvent, Subscription } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';

/** How long one blocking read waits before the loop checks whether anyone still listens, ms. */
const BLOCK_MS = 2000;
const RETRY_MS = 500;

export interface RedisEventLogOptions {
  redis: Client;
  prefix: string;
  /** Events kept (approximately: MAXLEN ~). */
  historySize: number;
  /** Opens the follower's blocking connection (only when someone follows). */
  blocking: () => Client;
}

type Listener = (ev: LoggedEvent) => void;

function parseEntry(id: string, fields: string[]): LoggedEvent | undefined {
  const i = fields.indexOf('e');
  if (i < 0 || i + 1 >= fields.length) return undefined;
  try {
    return { ...(JSON.parse(fields[i + 1]!) as OpsEvent), id };
  } catch {
    return undefined;
  }
}

export class RedisEventLog implements EventLog {
  private readonly key: string;
  private readonly listeners = new Set<Listener>();
  private loop: Promise<void> | undefined;
  private ready: Promise<void> | undefined;
  private blocker: Client | undefined;
  private closed = false;

  constructor(private readonly o: RedisEventLogOptions) {
    this.key = new DeploymentKeys(o.prefix).opsEvents;
  }

  async append(ev: OpsEvent): Promise<string> {
    const id = await this.o.redis.xadd(
      this.key,
      'MAXLEN',
      '~',
      String(this.o.historySize),
      '*',
      'e',
      JSON.stringify(ev),
    );
    return id!;
  }

  async after(id: string | undefined, count: number): Promise<LoggedEvent[]> {
    const rows =
      id === undefined
        ? (await this.o.redis.xrevrange(this.key, '+', '-', 'COUNT', count)).reverse()
        : await this.o.redis.xrange(this.key, `(${id}`, '+', 'COUNT', count);
    return rows.flatMap(([rid, fields]) => parseEntry(rid, fields) ?? []);
  }

  follow(fn: Listener): Subscription {
    this.listeners.add(fn);
    if (!this.loop) this.start();
    return {
      ready: this.ready!,
      close: () => void this.listeners.delete(fn),
    };
  }

  private start(): void {
    let resolveReady!: () => void;
    this.ready = new Promise<void>((r) => (resolveReady = r));
    this.loop = (async () => {
      this.blocker ??= this.o.blocking();
      let last: string | undefined;
      while (!this.closed && this.listeners.size > 0) {
        try {
          if (last === undefined) {
            const newest = await this.o.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
            last = newest[0]?.[0] ?? '0-0';
            resolveReady();
          }
          const res = (await this.blocker.xread(
            'COUNT',
            500,
            'BLOCK',
            BLOCK_MS,
            'STREAMS',
            this.key,
            last,
          )) as Array<[string, Array<[string, string[]]>]> | null;
          for (const [, entries] of res ?? []) {
            for (const [id, fields] of entries) {
              last = id;
              const ev = parseEntry(id, fields);
              if (ev) for (const l of [...this.listeners]) l(ev);
            }
          }
        } catch {
          if (this.closed) break;
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
      this.loop = undefined;
    })();
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.blocker?.disconnect();
  }
}
