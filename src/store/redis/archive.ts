/**
 * SegmentArchive on Redis (issue #11): per stream and rendition, one sorted set of compact segment records scored
 * by the segment's first-sample wall clock (Unix ms), plus a set naming the archived renditions. Both carry the
 * stream's hash tag, so the record and trim scripts run on the stream's slot. A record is a comma-separated row of
 * integers (~60 bytes: a 14-day window at 2 s is 604,800 records, ~40 MB per rendition); ranges are
 * ZRANGEBYSCORE with LIMIT, trims ZREMRANGEBYSCORE.
 */
import { readFileSync } from 'node:fs';
import type { SegmentEntry } from '../../core/index.js';
import type { SegmentArchive } from '../ports.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';

type ArchiveRecord = Omit<SegmentEntry, 'parts'>;

const SCRIPTS = { recordSegment: 'recordSegment-2', trimArchive: 'trimArchive-2' } as const;

type Runner = (...a: Array<string | number>) => Promise<unknown>;

/** The record as stored: its integer fields in a fixed order (booleans 0/1). */
export function encodeRecord(s: ArchiveRecord): string {
  return [
    s.msn,
    s.discontinuitySeq,
    s.discontinuity ? 1 : 0,
    s.initId,
    s.startTicks,
    s.durationTicks,
    s.independent ? 1 : 0,
    s.byteLength,
    s.wallClockMs,
    s.periodStartTicks,
    s.periodWallClockMs,
  ].join(',');
}

export function decodeRecord(row: string): ArchiveRecord {
  const f = row.split(',').map(Number);
  if (f.length !== 11 || f.some((n) => !Number.isSafeInteger(n)))
    throw new Error(`malformed archive record ${JSON.stringify(row.slice(0, 80))}`);
  return {
    msn: f[0]!,
    discontinuitySeq: f[1]!,
    discontinuity: f[2] === 1,
    initId: f[3]!,
    startTicks: f[4]!,
    durationTicks: f[5]!,
    independent: f[6] === 1,
    byteLength: f[7]!,
    wallClockMs: f[8]!,
    periodStartTicks: f[9]!,
    periodWallClockMs: f[10]!,
  };
}

export class RedisSegmentArchive implements SegmentArchive {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
    for (const [name, file] of Object.entries(SCRIPTS)) {
      if (name in redis) continue;
      redis.defineCommand(name, {
        numberOfKeys: 2,
        lua: readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8'),
      });
    }
  }

  async record(stream: string, rendition: string, segment: ArchiveRecord): Promise<void> {
    const k = this.keys.stream(stream);
    await this.script('recordSegment')(
      k.archive(rendition),
      k.archivedRenditions,
      segment.wallClockMs,
      segment.msn,
      encodeRecord(segment),
      rendition,
    );
  }

  async range(
    stream: string,
    rendition: string,
    fromMs: number,
    toMs: number,
    max: number,
    newest = false,
  ): Promise<ArchiveRecord[]> {
    if (max <= 0 || toMs <= fromMs) return [];
    const key = this.keys.stream(stream).archive(rendition);
    const lo = Number.isFinite(fromMs) ? String(fromMs) : '-inf';
    const hi = Number.isFinite(toMs) ? `(${toMs}` : '+inf';
    const rows = newest
      ? (await this.redis.zrevrangebyscore(key, hi, lo, 'LIMIT', 0, max)).reverse()
      : await this.redis.zrangebyscore(key, lo, hi, 'LIMIT', 0, max);
    return rows.map(decodeRecord).sort((a, b) => a.msn - b.msn);
  }

  async renditions(stream: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.stream(stream).archivedRenditions)).sort();
  }

  async trim(stream: string, rendition: string, beforeMs: number): Promise<number> {
    const k = this.keys.stream(stream);
    return Number(
      await this.script('trimArchive')(k.archive(rendition), k.archivedRenditions, beforeMs, rendition),
    );
  }

  private script(name: keyof typeof SCRIPTS): Runner {
    const fn = (this.redis as unknown as Record<string, Runner>)[name]!;
    return (...a) => fn.call(this.redis, ...a);
  }
}
