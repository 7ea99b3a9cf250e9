/**
 * The DVR MPD and time-shifted MPDs (issue #11): the classic MPD's model (buildMpd, number-based addressing for
 * the live period where the segments sit on the grid, decision 007) over the DVR window's segments (archive
 * records and the live timeline, hls/dvr.ts dvrRun) instead of the live window, with timeShiftBufferDepth = the
 * window. A finished catch-up range is a static MPD (every period with its exact SegmentTimeline, starting at the range's first segment).
 */
import type { DvrSegment } from '../hls/dvr.js';
import type { RenditionDescription } from '../manifest/set.js';
import { type Mpd, buildMpd } from './mpd.js';

export interface DvrTrack {
  description: RenditionDescription;
  /** Part target advertised by the live timeline (the number grid's tolerance, as in the classic MPD). */
  partTargetTicks: number;
  /** Bandwidth to announce, bits/s (the live MPD's, so both agree). */
  bandwidth: number;
  /** The view's complete segments, oldest first. */
  segments: readonly DvrSegment[];
}

export interface DvrMpdOptions {
  /** Render time, Unix ms (MPD@publishTime; whether the chain keeps up with the clock). */
  publishTimeMs: number;
  /** timeShiftBufferDepth, ms: the DVR window, or how far back a start-over view reaches. */
  windowMs: number;
  utcTimingUrl: string;
  /** Nothing more will be listed (the stream ended, or the catch-up range is over): a static MPD. */
  ended: boolean;
}

export function buildDvrMpd(tracks: readonly DvrTrack[], o: DvrMpdOptions): Mpd {
  const renditions = tracks
    .filter((t) => t.segments.length > 0)
    .map((t) => {
      const r = t.description;
      return {
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        bandwidth: t.bandwidth,
        width: r.width,
        height: r.height,
        frameRate: r.frameRate,
        sampleRate: r.sampleRate,
        channelCount: r.channelCount,
        language: r.language,
        closedCaptions: r.closedCaptions,
        snapshot: {
          timescale: r.timescale,
          segmentTargetTicks: r.segmentTargetTicks,
          partTargetTicks: t.partTargetTicks,
          segments: (o.ended ? rebase(t.segments) : t.segments).map((s) => ({ ...s, parts: [] })),
          open: undefined,
          ended: o.ended,
        },
      };
    });
  // Every segment of the view is listed: the window given to buildMpd covers them all.
  const spanMs = Math.max(
    o.windowMs,
    ...renditions.map((r) => {
      const segs = r.snapshot.segments;
      const a = segs[0]!;
      const b = segs[segs.length - 1]!;
      return b.wallClockMs - a.wallClockMs + Math.ceil((b.durationTicks * 1000) / r.snapshot.timescale) + 1;
    }),
  );
  const mpd = buildMpd(renditions, {
    publishTimeMs: o.publishTimeMs,
    windowMs: spanMs,
    lowLatency: false,
    utcTimingUrl: o.utcTimingUrl,
  });
  return { ...mpd, timeShiftBufferDepthMs: o.windowMs, ended: o.ended && renditions.length > 0 };
}

/**
 * A finished range's periods start at its first segment (not at the period's anchor before the range), so a
 * static MPD's presentation begins with media: each discontinuity sequence is re-anchored at its first listed
 * segment (its own start and wall clock, exact to the ms).
 */
function rebase(segments: readonly DvrSegment[]): DvrSegment[] {
  const anchors = new Map<number, DvrSegment>();
  return segments.map((s) => {
    let a = anchors.get(s.discontinuitySeq);
    if (!a) anchors.set(s.discontinuitySeq, (a = s));
    return { ...s, periodStartTicks: a.startTicks, periodWallClockMs: a.wallClockMs };
  });
}
