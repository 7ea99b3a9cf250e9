/**
 * Issue #11: retention of the cold tier. Per stream, segments whose first sample is older than the stream's
 * dvrWindowSec are deleted from the cold tier in bulk (deleteMany), then their records are trimmed from the
 * SegmentArchive: the references go after the bytes, so a crash in between leaves records the next sweep
 * deletes again. Inits no kept segment uses go with them; so do segments at or below the newest deleted msn that
 * have no record (a crash between a cold write and its record).
 * Streams in `keep` are never swept.
 *
 * Several processes may sweep at once: every step is idempotent (deleting a missing key is no error, trimming
 * twice trims nothing), so the worst case is duplicate work; each process starts at a random offset of the
 * interval so they rarely coincide.
 */
import { coldKey, objectName, parseLiveColdKey, parseObjectName } from '../../core/index.js';
import type { Logger } from '../../log.js';
import type { ColdTier, SegmentArchive } from '../ports.js';

export interface SweeperMetrics {
  deleted?: { inc(v: number): void };
  runs?: { inc(labels: { result: 'ok' | 'failed' }): void };
}

export interface SweeperOptions {
  tier: ColdTier;
  archive: SegmentArchive;
  log: Logger;
  /** The streams to look at (the directory's and the config's). */
  streams: () => Promise<string[]>;
  /** A stream's retention: its DVR window in seconds, 'keep' (never delete), or undefined (unknown: skip). */
  retention: (stream: string) => Promise<number | 'keep' | undefined>;
  intervalMs: number;
  /** Records read per batch (one deleteMany per batch). */
  batch?: number;
  metrics?: SweeperMetrics;
  now?: () => number;
}

export interface SweepResult {
  streams: number;
  deletedObjects: number;
  trimmedRecords: number;
}

export class ColdSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;
  private readonly now: () => number;

  constructor(private readonly o: SweeperOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Sweeps every interval (the first after a random part of it). */
  start(): void {
    const tick = (delay: number): void => {
      this.timer = setTimeout(() => {
        void this.sweep()
          .catch(() => undefined)
          .finally(() => tick(this.o.intervalMs));
      }, delay);
      this.timer.unref();
    };
    tick(Math.floor(Math.random() * this.o.intervalMs));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass over every stream (one at a time if called again while running). */
  sweep(): Promise<SweepResult> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async pass(): Promise<SweepResult> {
    const total: SweepResult = { streams: 0, deletedObjects: 0, trimmedRecords: 0 };
    try {
      for (const stream of await this.o.streams()) {
        const keep = await this.o.retention(stream);
        if (keep === undefined || keep === 'keep') continue;
        const r = await this.sweepStream(stream, this.now() - keep * 1000);
        total.streams++;
        total.deletedObjects += r.deletedObjects;
        total.trimmedRecords += r.trimmedRecords;
      }
      this.o.metrics?.runs?.inc({ result: 'ok' });
      if (total.deletedObjects + total.trimmedRecords > 0) {
        this.o.log.info(total, 'cold tier swept');
      }
      return total;
    } catch (err) {
      this.o.metrics?.runs?.inc({ result: 'failed' });
      this.o.log.warn(
        { ...total, err: err instanceof Error ? err.message : String(err) },
        'cold tier sweep failed; next interval retries',
      );
      throw err;
    }
  }

  /** Deletes the stream's cold segments that started before cutoffMs and the inits left unused, then the records. */
  async sweepStream(stream: string, cutoffMs: number): Promise<SweepResult> {
    const batch = this.o.batch ?? 1000;
    let deletedObjects = 0;
    let trimmedRecords = 0;
    for (const rendition of await this.o.archive.renditions(stream)) {
      // Records older than the cutoff, oldest first, deleted batch by batch; trimmed once their bytes are gone.
      let from = 0;
      let lastDeletedMsn = -1;
      for (;;) {
        const old = await this.o.archive.range(stream, rendition, from, cutoffMs, batch);
        if (old.length === 0) break;
        const keys = old.map((r) => coldKey.live(stream, rendition, objectName.segment(r.msn)));
        deletedObjects += await this.o.tier.deleteMany(keys);
        this.o.metrics?.deleted?.inc(keys.length);
        lastDeletedMsn = old[old.length - 1]!.msn;
        if (old.length < batch) break;
        from = old[old.length - 1]!.wallClockMs + 1;
      }
      if (lastDeletedMsn < 0) continue;
      trimmedRecords += await this.o.archive.trim(stream, rendition, cutoffMs);
      // Inits: those with an id below the oldest kept segment's (ids only increase); all of them when no record
      // is left. Segments without a record (a crash between the cold write and the record) at or below the last
      // deleted msn go too.
      const kept = await this.o.archive.range(stream, rendition, cutoffMs, Number.MAX_SAFE_INTEGER, 1);
      const oldestInit = kept[0]?.initId ?? Number.POSITIVE_INFINITY;
      const extra: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await this.o.tier.list(coldKey.liveRenditionPrefix(stream, rendition), 1000, after);
        for (const key of page.keys) {
          const ref = parseLiveColdKey(key);
          const obj = ref && parseObjectName(ref.file);
          if (!obj) continue;
          if (obj.kind === 'init' && obj.initId < oldestInit) extra.push(key);
          if (obj.kind === 'segment' && obj.msn <= lastDeletedMsn) extra.push(key);
        }
        if (!page.more || page.keys.length === 0) break;
        after = page.keys[page.keys.length - 1];
      }
      if (kept.length === 0) {
        // No record left: keep the newest init (a segment being archived right now may still need it).
        const inits = extra.filter((k) => parseObjectName(parseLiveColdKey(k)!.file)?.kind === 'init');
        const newest = inits.sort((a, b) => initIdOf(a) - initIdOf(b)).pop();
        if (newest) extra.splice(extra.indexOf(newest), 1);
      }
      if (extra.length > 0) {
        for (let i = 0; i < extra.length; i += batch) {
          deletedObjects += await this.o.tier.deleteMany(extra.slice(i, i + batch));
        }
      }
    }
    return { streams: 1, deletedObjects, trimmedRecords };
  }
}

function initIdOf(key: string): number {
  const o = parseObjectName(parseLiveColdKey(key)!.file);
  return o?.kind === 'init' ? o.initId : -1;
}
