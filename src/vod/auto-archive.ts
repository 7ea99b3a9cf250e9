/**
 * archiveOnEnd (issue #11): follows the operations events and, when a stream configured with archiveOnEnd ends,
 * queues a harvest of the whole event (from its stream.live to its stream.ended) into an asset named
 * `<stream>-<yyyymmddThhmmss>` (the start, UTC). Every manifest worker runs one; the asset job id is derived from
 * the name, so the fleet queues one job per event. An event whose start this process did not hear (it started
 * later) is harvested from `ended - dvrWindowSec` (the oldest media that can still be there).
 */
import type { Logger } from '../log.js';
import type { AssetJobQueue } from '../queue/ports.js';
import type { EventLog, LoggedEvent, Subscription } from '../store/ports.js';

export interface AutoArchiveOptions {
  events: EventLog;
  jobs: AssetJobQueue;
  /** Streams with archiveOnEnd, with their DVR window (s). */
  streams: ReadonlyMap<string, { dvrWindowSec: number }>;
  log: Logger;
}

/** The asset an event is archived as. */
export function eventAssetName(stream: string, startMs: number): string {
  const d = new Date(startMs).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${stream}-${d}`.slice(0, 64);
}

export function startAutoArchive(o: AutoArchiveOptions): Subscription {
  const log = o.log.child({ component: 'auto-archive' });
  const started = new Map<string, number>();
  const onEvent = (ev: LoggedEvent): void => {
    const s = ev.stream;
    if (!s || !o.streams.has(s)) return;
    if (ev.type === 'stream.live') {
      started.set(s, ev.at);
      return;
    }
    if (ev.type !== 'stream.ended') return;
    const startMs = started.get(s) ?? ev.at - o.streams.get(s)!.dvrWindowSec * 1000;
    started.delete(s);
    const asset = eventAssetName(s, startMs);
    o.jobs.submit({ kind: 'harvest', asset, stream: s, startMs, endMs: ev.at + 1 }).then(
      ({ view, created }) => created && log.info({ stream: s, asset, job: view.id }, 'event archive queued'),
      (err: unknown) =>
        log.warn({ stream: s, asset, err: (err as Error).message }, 'event archive not queued'),
    );
  };
  return o.events.follow(onEvent);
}
