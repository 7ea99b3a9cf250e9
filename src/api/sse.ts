/**
 * GET /api/v1/events as Server-Sent Events (WHATWG HTML 9.2). Each operations event is sent with `id:` (its id in
 * the event log) and `event:` (its type); a client reconnecting with Last-Event-ID gets exactly the events after
 * it that the bounded history still holds, then the live ones, without a gap or a repeat: the live tail is
 * attached first, the history read once it is ready, and live events not newer than the last one sent dropped.
 * segment.published events (chatty) come from the per-stream event bus, only for the streams the subscriber
 * names, without an id (they are not in the history; a resume does not replay them).
 */
import type { Logger } from '../log.js';
import type { EventBus, EventLog, LoggedEvent, Subscription } from '../store/ports.js';
import { type Exchange, startStream } from '../reader/respond.js';

/** A comment line this often keeps proxies and the reader's idle timeout from closing a quiet feed. */
const HEARTBEAT_MS = 15_000;
const PAGE = 500;

/** Compares two event ids "ms-seq" (negative: a is older). */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : as - bs;
}

export const EVENT_ID = /^\d{1,16}-\d{1,16}$/;

export interface FeedOptions {
  /** Resume after this id. */
  lastEventId?: string;
  /** Without a resume id: send the newest N events first. */
  history: number;
  /** Streams whose segment.published events to send. */
  segments: string[];
}

export function frame(ev: LoggedEvent): string {
  const { id, type, ...rest } = ev;
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id, type, ...rest })}\n\n`;
}

export async function serveEventFeed(
  x: Exchange,
  o: FeedOptions,
  deps: { eventLog: EventLog; events: EventBus; log: Logger; historySize: number },
): Promise<void> {
  const { res } = x;
  let last = o.lastEventId;
  let replaying = true;
  const held: LoggedEvent[] = [];
  const send = (ev: LoggedEvent): void => {
    if (last !== undefined && compareEventIds(ev.id, last) <= 0) return;
    last = ev.id;
    res.write(frame(ev));
  };
  const subs: Subscription[] = [];
  const tail = deps.eventLog.follow((ev) => (replaying ? held.push(ev) : send(ev)));
  subs.push(tail);
  const close = (): void => {
    clearInterval(beat);
    for (const s of subs) s.close();
  };
  const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  res.on('close', close);
  try {
    await tail.ready;
    res.setHeader('X-Accel-Buffering', 'no');
    startStream(x, { cls: 'no-store', type: 'text/event-stream; charset=utf-8' });
    res.write('retry: 1000\n\n');
    if (o.lastEventId !== undefined) {
      for (let n = 0; n < deps.historySize; n += PAGE) {
        const page = await deps.eventLog.after(last, PAGE);
        for (const ev of page) send(ev);
        if (page.length < PAGE) break;
      }
    } else if (o.history > 0) {
      for (const ev of await deps.eventLog.after(undefined, o.history)) send(ev);
    }
    replaying = false;
    for (const ev of held.splice(0)) send(ev);
    for (const stream of o.segments) {
      subs.push(
        deps.events.subscribe(stream, (ev) => {
          if (ev.t !== 'seg') return;
          const data = {
            type: 'segment.published',
            stream: ev.s,
            at: Date.now(),
            data: { rendition: ev.r, msn: ev.msn },
          };
          res.write(`event: segment.published\ndata: ${JSON.stringify(data)}\n\n`);
        }),
      );
    }
  } catch (err) {
    close();
    throw err;
  }
}
