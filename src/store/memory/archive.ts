/**
 * In-memory SegmentArchive (issue #11): per stream and rendition, the records of complete segments in the DVR
 * window, kept in msn order. Same rules as the Redis adapter: idempotent by msn, ranges by first-sample wall
 * clock in [fromMs, toMs), trim by wall clock.
 */
import { assertSafeName, type SegmentEntry } from '../../core/index.js';
import type { SegmentArchive } from '../ports.js';

type ArchiveRecord = Omit<SegmentEntry, 'parts'>;

export class MemorySegmentArchive implements SegmentArchive {
  /** stream -> rendition -> records ascending by msn. */
  private readonly data = new Map<string, Map<string, ArchiveRecord[]>>();

  constructor(private readonly check: () => void = () => undefined) {}

  async record(stream: string, rendition: string, segment: ArchiveRecord): Promise<void> {
    const list = this.list(stream, rendition, true)!;
    const rec = strip(segment);
    const i = lowerBound(list, rec.msn);
    if (list[i]?.msn === rec.msn) list[i] = rec;
    else list.splice(i, 0, rec);
  }

  async range(
    stream: string,
    rendition: string,
    fromMs: number,
    toMs: number,
    max: number,
    newest = false,
  ): Promise<ArchiveRecord[]> {
    const list = this.list(stream, rendition, false) ?? [];
    const hits = list.filter((r) => r.wallClockMs >= fromMs && r.wallClockMs < toMs);
    const picked = newest ? hits.slice(Math.max(0, hits.length - max)) : hits.slice(0, Math.max(0, max));
    return picked.map((r) => ({ ...r }));
  }

  async renditions(stream: string): Promise<string[]> {
    assertSafeName('stream', stream);
    this.check();
    const m = this.data.get(stream);
    return m
      ? [...m.entries()]
          .filter(([, l]) => l.length > 0)
          .map(([r]) => r)
          .sort()
      : [];
  }

  async trim(stream: string, rendition: string, beforeMs: number): Promise<number> {
    const list = this.list(stream, rendition, false);
    if (!list) return 0;
    const kept = list.filter((r) => r.wallClockMs >= beforeMs);
    const n = list.length - kept.length;
    list.splice(0, list.length, ...kept);
    return n;
  }

  private list(stream: string, rendition: string, create: boolean): ArchiveRecord[] | undefined {
    assertSafeName('stream', stream);
    assertSafeName('rendition', rendition);
    this.check();
    let m = this.data.get(stream);
    if (!m) {
      if (!create) return undefined;
      m = new Map();
      this.data.set(stream, m);
    }
    let l = m.get(rendition);
    if (!l && create) {
      l = [];
      m.set(rendition, l);
    }
    return l;
  }
}

/** The record without parts (and without an open segment's closing flag), as stored. */
function strip(s: ArchiveRecord & { parts?: unknown; closing?: unknown }): ArchiveRecord {
  return {
    msn: s.msn,
    discontinuitySeq: s.discontinuitySeq,
    discontinuity: s.discontinuity,
    initId: s.initId,
    startTicks: s.startTicks,
    durationTicks: s.durationTicks,
    independent: s.independent,
    byteLength: s.byteLength,
    wallClockMs: s.wallClockMs,
    periodStartTicks: s.periodStartTicks,
    periodWallClockMs: s.periodWallClockMs,
  };
}

function lowerBound(list: ArchiveRecord[], msn: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.msn < msn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
