/** In-memory adapters of the operations ports (issue #12): event log, stream switches, health reports. */
import { assertSafeName } from '../../core/index.js';
import type {
  EventLog,
  HealthBoard,
  LoggedEvent,
  OpsEvent,
  StreamControls,
  StreamHealthRecord,
  Subscription,
} from '../ports.js';

/** Compares two event ids "ms-seq" (negative: a is older). */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : as - bs;
}

export class MemoryEventLog implements EventLog {
  private readonly entries: LoggedEvent[] = [];
  private readonly listeners = new Set<(ev: LoggedEvent) => void>();
  private lastMs = 0;
  private seq = 0;

  constructor(
    private readonly historySize = 10_000,
    private readonly now: () => number = Date.now,
    private readonly check: () => void = () => undefined,
  ) {}

  async append(ev: OpsEvent): Promise<string> {
    this.check();
    const ms = Math.max(this.now(), this.lastMs);
    this.seq = ms === this.lastMs ? this.seq + 1 : 0;
    this.lastMs = ms;
    const logged: LoggedEvent = { ...(JSON.parse(JSON.stringify(ev)) as OpsEvent), id: `${ms}-${this.seq}` };
    this.entries.push(logged);
    if (this.entries.length > this.historySize)
      this.entries.splice(0, this.entries.length - this.historySize);
    queueMicrotask(() => {
      for (const l of [...this.listeners]) l(logged);
    });
    return logged.id;
  }

  async after(id: string | undefined, count: number): Promise<LoggedEvent[]> {
    this.check();
    if (id === undefined) return this.entries.slice(-count);
    return this.entries.filter((e) => compareIds(e.id, id) > 0).slice(0, count);
  }

  follow(fn: (ev: LoggedEvent) => void): Subscription {
    this.listeners.add(fn);
    return { ready: Promise.resolve(), close: () => void this.listeners.delete(fn) };
  }
}

export class MemoryStreamControls implements StreamControls {
  private readonly set = new Set<string>();
  constructor(private readonly check: () => void = () => undefined) {}

  async setDisabled(stream: string, disabled: boolean): Promise<void> {
    this.check();
    assertSafeName('stream', stream);
    if (disabled) this.set.add(stream);
    else this.set.delete(stream);
  }

  async isDisabled(stream: string): Promise<boolean> {
    this.check();
    return this.set.has(stream);
  }

  async disabled(): Promise<string[]> {
    this.check();
    return [...this.set].sort();
  }
}

export class MemoryHealthBoard implements HealthBoard {
  private readonly reports = new Map<string, { h: StreamHealthRecord; expiresAt: number }>();
  constructor(
    private readonly now: () => number = Date.now,
    private readonly check: () => void = () => undefined,
  ) {}

  async report(h: StreamHealthRecord, ttlMs: number): Promise<void> {
    this.check();
    this.reports.set(h.stream, {
      h: JSON.parse(JSON.stringify(h)) as StreamHealthRecord,
      expiresAt: this.now() + ttlMs,
    });
  }

  async read(streams: string[]): Promise<Map<string, StreamHealthRecord>> {
    this.check();
    const out = new Map<string, StreamHealthRecord>();
    for (const s of streams) {
      const r = this.reports.get(s);
      if (r && r.expiresAt > this.now()) out.set(s, r.h);
    }
    return out;
  }
}
