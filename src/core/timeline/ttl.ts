/** Packaging windows of a stream, in seconds. */
export interface WindowSettings {
  segmentSec: number;
  partSec: number;
  windowSec: number;
  dvrWindowSec: number;
  /**
   * The part of the DVR window the hot tier keeps (Redis TTLs, timeline length) when a cold tier holds the rest
   * (issue #11); absent: the whole DVR window is hot.
   */
  hotDvrWindowSec?: number;
}

/** The DVR seconds the hot tier keeps: the whole window without a cold tier. */
export function hotDvrSec(s: WindowSettings): number {
  return Math.min(s.dvrWindowSec, s.hotDvrWindowSec ?? s.dvrWindowSec);
}

/** How long each object class stays readable in the hot tier, in whole seconds. */
export interface ObjectTtls {
  segmentSec: number;
  partSec: number;
  initSec: number;
  /** The open segment's timeline entry: expires if the ingest dies without closing it. */
  openSec: number;
}

/**
 * Parts are listed for the newest segments only: at most this many segments (the one filling, or the one the
 * preload hint opens, counted) and none starting more than this many target durations before the playlist's end
 * (RFC 8216bis 6.2.2; partListStart in hls/media.ts).
 */
export const PART_LISTING_TARGET_DURATIONS = 3;

/**
 * TTLs derived from the windows, after the HLS availability rules (RFC 8216 6.2.2, 8216bis 6.2.2):
 * - a segment stays available for the time it is in the playlist plus the playlist's duration: listed for at
 *   most the DVR window (plus the segment still filling), then one more window for clients holding an old copy;
 * - a part stays available for three target durations after it leaves the playlist, and parts are listed for at
 *   most PART_LISTING_TARGET_DURATIONS target durations (counted here with one more, as when parts were listed for
 *   that long plus the open segment).
 * One extra target duration of margin on each.
 */
export function objectTtls(s: WindowSettings): ObjectTtls {
  const target = Math.ceil(s.segmentSec);
  const dvr = hotDvrSec(s);
  const listedSec = Math.max(s.windowSec, dvr) + target;
  const segmentSec = Math.ceil(listedSec + Math.max(s.windowSec, dvr) + target);
  const partListed = (PART_LISTING_TARGET_DURATIONS + 1) * target;
  const partSec = Math.ceil(partListed + 3 * target + target);
  return { segmentSec, partSec, initSec: segmentSec + target, openSec: partSec };
}
