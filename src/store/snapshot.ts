/**
 * Rebuilds a rendition's TimelineSnapshot from stored entries: shared by every MediaStore adapter so they agree
 * on what a playlist shows after a gap or a restart.
 */
import type { PartEntry, SegmentEntry, TimelineSnapshot } from '../core/index.js';
import type { RenditionInfo } from './ports.js';

export interface StoredTimeline {
  info: RenditionInfo;
  /** Complete segments, oldest first, without parts. */
  segments: Array<Omit<SegmentEntry, 'parts'>>;
  open: SegmentEntry | undefined;
  partSegments: number;
  ended: boolean;
  maxPartTicks: number;
  /** The part lists of these complete segments (undefined where none is kept). */
  readParts(msns: number[]): Promise<Array<PartEntry[] | undefined>>;
}

/**
 * Only the contiguous run of sequence numbers ending at the newest segment is kept: a gap (media dropped while
 * the store was unreachable) restarts the playlist after it. A stale open entry (from before a gap or restart)
 * is dropped unless it is newer than everything listed.
 */
export async function assembleSnapshot(t: StoredTimeline): Promise<TimelineSnapshot> {
  let segments: SegmentEntry[] = t.segments.map((s) => ({ ...s, parts: [] as PartEntry[] }));
  let open = t.open;
  for (let i = segments.length - 1; i > 0; i--) {
    if (segments[i]!.msn !== segments[i - 1]!.msn + 1) {
      segments = segments.slice(i);
      break;
    }
  }
  const last = segments[segments.length - 1];
  if (open && last && open.msn !== last.msn + 1) {
    if (open.msn <= last.msn) open = undefined;
    else segments = [];
  }
  const recent = t.partSegments > 0 ? segments.slice(-t.partSegments) : [];
  if (recent.length > 0) {
    const parts = await t.readParts(recent.map((s) => s.msn));
    recent.forEach((s, i) => {
      const p = parts[i];
      if (p) s.parts = p;
    });
  }
  return {
    timescale: t.info.timescale,
    segmentTargetTicks: t.info.segmentTargetTicks,
    partTargetTicks: Math.max(t.info.partTargetTicks, t.maxPartTicks),
    segments,
    open: t.ended ? undefined : open,
    ended: t.ended,
  };
}
