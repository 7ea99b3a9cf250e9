import { formatTicks, isoDateTime, isoDurationMs } from '../format.js';
import { liveWindow } from '../hls/media.js';
import { dashNames } from '../names/names.js';
import type { SegmentEntry, TimelineSnapshot } from '../timeline/types.js';
import { type XmlElement, serializeXml } from './xml.js';

/** SegmentTimeline S element: start, duration, repeat count (ISO/IEC 23009-1 5.3.9.6). */
export interface S {
  t: number;
  d: number;
  r: number;
}

export interface SegmentTemplate {
  timescale: number;
  initialization: string;
  media: string;
  startNumber: number;
  presentationTimeOffset: number;
  /** Low latency: seconds before a segment's end at which its first chunks can be requested. */
  availabilityTimeOffsetSec?: string;
  availabilityTimeComplete?: boolean;
  /**
   * Either an explicit SegmentTimeline, or (number-based addressing) one nominal duration: segment N starts at
   * (N - startNumber) * durationTicks after presentationTimeOffset.
   */
  timeline?: S[];
  durationTicks?: number;
}

export interface Representation {
  id: string;
  codecs: string;
  bandwidth: number;
  width?: number;
  height?: number;
  frameRate?: string;
  audioSamplingRate?: number;
  audioChannels?: number;
  segmentTemplate: SegmentTemplate;
}

export interface AdaptationSet {
  id: number;
  contentType: 'video' | 'audio';
  mimeType: string;
  /** Audio: the track's language (RFC 5646 / ISO 639 tag). */
  lang?: string;
  /** Audio with more than one set: the first is the main one (Role urn:mpeg:dash:role:2011 "main"), others "alternate". */
  role?: 'main' | 'alternate';
  /**
   * Video carrying CEA-608 captions: the SCTE 214-1 Accessibility value, channel=language ("CC1=eng"; "und" when
   * the source does not say: a value without "=" would be read as a language list by Shaka).
   */
  cea608?: string;
  representations: Representation[];
}

export interface Period {
  id: string;
  /** Period@start: ms after availabilityStartTime (buildMpd first fills in the period's wall clock, Unix ms). */
  startMs: number;
  adaptationSets: AdaptationSet[];
}

export interface ServiceDescription {
  targetLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  minPlaybackRate: number;
  maxPlaybackRate: number;
}

/** A dynamic MPD as data (ISO/IEC 23009-1; DASH-IF IOP low-latency extensions). */
export interface Mpd {
  availabilityStartTimeMs: number;
  publishTimeMs: number;
  minimumUpdatePeriodMs: number;
  timeShiftBufferDepthMs: number;
  suggestedPresentationDelayMs: number;
  maxSegmentDurationMs: number;
  minBufferTimeMs: number;
  utcTimingUrl: string;
  serviceDescription?: ServiceDescription;
  periods: Period[];
  ended: boolean;
}

/** One rendition's description and timeline, as the MPD builder needs it. */
export interface DashRendition {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  bandwidth: number;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channelCount?: number;
  /** Audio: the language; video: its captions' language. */
  language?: string;
  /** Video: carries CEA-608 captions (CC1). */
  closedCaptions?: boolean;
  snapshot: TimelineSnapshot;
}

export interface MpdOptions {
  publishTimeMs: number;
  windowMs: number;
  lowLatency: boolean;
  /** Absolute or root-relative URL of the origin's clock (ISO 8601 over HTTP). */
  utcTimingUrl: string;
  /** Low latency: the player's target latency (ServiceDescription). */
  targetLatencyMs?: number;
  /** Relative media names; must match the HLS names (same objects serve both). */
  initName?: (rendition: string, initId: number) => string;
  mediaName?: (rendition: string) => string;
}

/** Run-length encodes contiguous segments of equal duration into S elements. */
export function segmentTimeline(segments: Array<Pick<SegmentEntry, 'startTicks' | 'durationTicks'>>): S[] {
  const out: S[] = [];
  for (const seg of segments) {
    const last = out[out.length - 1];
    if (last && last.d === seg.durationTicks && last.t + last.d * (last.r + 1) === seg.startTicks) last.r++;
    else out.push({ t: seg.startTicks, d: seg.durationTicks, r: 0 });
  }
  return out;
}

/**
 * Number-based addressing for one representation in one period, if its segments sit on the nominal grid:
 * segment k of the period starts within `toleranceTicks` of pto + k * d, numbered startNumber + k. Video with
 * aligned keyframes is exact; audio cut at the nearest fragment is within a part. Returns undefined otherwise
 * (variable GOPs, forced cuts), and the caller keeps an explicit SegmentTimeline.
 */
export function numberGrid(
  segments: Array<Pick<SegmentEntry, 'msn' | 'startTicks'>>,
  pto: number,
  d: number,
  toleranceTicks: number,
): { startNumber: number } | undefined {
  if (d <= 0 || segments.length === 0) return undefined;
  let startNumber: number | undefined;
  for (const s of segments) {
    const k = Math.round((s.startTicks - pto) / d);
    if (k < 0 || Math.abs(s.startTicks - (pto + k * d)) > toleranceTicks) return undefined;
    if (startNumber === undefined) startNumber = s.msn - k;
    else if (startNumber !== s.msn - k) return undefined;
  }
  return startNumber === undefined ? undefined : { startNumber };
}

/** Wall-clock end of the newest media in a timeline (the open segment's parts, or the last segment), if any. */
export function newestEndWallClockMs(s: TimelineSnapshot): number | undefined {
  const seg = s.open ?? s.segments[s.segments.length - 1];
  if (!seg) return undefined;
  const ticks = s.open ? s.open.parts.reduce((n, p) => n + p.durationTicks, 0) : seg.durationTicks;
  return seg.wallClockMs + (ticks * 1000) / s.timescale;
}

/**
 * Whether the rendition's newest media is within one segment of the wall clock its anchor gives it. A number grid
 * tells players to derive segments from their clock; a chain that has fallen behind real time (an overloaded
 * transcoder) would have them ask for segments that do not exist yet, so such an MPD lists what exists instead.
 */
export function keepsUp(s: TimelineSnapshot, nowMs: number): boolean {
  const end = newestEndWallClockMs(s);
  return end !== undefined && end >= nowMs - (s.segmentTargetTicks * 1000) / s.timescale;
}

/**
 * Builds the MPD for a stream from its renditions' timelines. availabilityStartTime is the wall-clock anchor of
 * the oldest period listed (mpdAnchorMs; docs/decisions/004-mpd-anchor.md): the first period starts at 0, and
 * each discontinuity opens a Period that starts at its own wall-clock anchor relative to it, with
 * presentationTimeOffset mapping every representation's media time to it. Clients that ignore Period@start
 * (ffmpeg 5.1) or cannot take a 1.8e9 s one (GStreamer 1.22) then number the live segment right.
 * In low-latency form the open segment is announced too (availabilityTimeComplete=false): the origin serves
 * it chunk by chunk while it grows, so each chunk is fetchable as soon as it exists. Both live MPDs use
 * number-based addressing (SegmentTemplate@duration) wherever the segments sit on the nominal grid and the chain
 * keeps up with the clock: the player then knows each next segment from its clock instead of waiting for an MPD
 * update (with SegmentTimeline, dash.js learns of a new segment only at its next refresh, up to
 * minimumUpdatePeriod late, and stalls at a low target latency), and demuxers that cannot follow a live
 * SegmentTimeline across refreshes (GStreamer 1.22's dashdemux2; ffmpeg 5.1 re-requests old segments) play the
 * classic MPD too (docs/decisions/007-classic-mpd-addressing.md). Only the live (last) period is number-based;
 * closed periods keep their exact timelines. The origin holds a request for the next segment until its first
 * part exists.
 */
export function buildMpd(renditions: DashRendition[], o: MpdOptions): Mpd {
  const ordered = [...renditions].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'video' ? -1 : 1));
  const ref = ordered[0];
  const windowMs = o.windowMs;
  // Each rendition's window; segments grouped by discontinuity sequence = period.
  const perRendition = ordered.map((r) => {
    const win = liveWindow(r.snapshot, (o.windowMs * r.snapshot.timescale) / 1000);
    const open =
      o.lowLatency && r.snapshot.open
        ? [{ ...r.snapshot.open, durationTicks: r.snapshot.segmentTargetTicks }]
        : [];
    return { r, segments: [...win, ...open] };
  });
  const discSeqs = [...new Set(perRendition.flatMap((x) => x.segments.map((s) => s.discontinuitySeq)))].sort(
    (a, b) => a - b,
  );

  let maxSegTicksMs = 0;
  const periods: Period[] = [];
  for (const d of discSeqs) {
    // The period's anchor comes from the first rendition (video first) that has segments in it, from its newest
    // segment there: a young period's anchor is refined after its first segments were published (timeline.ts).
    let anchorSeg: SegmentEntry | undefined;
    let anchorTs = 1;
    for (const x of perRendition) {
      anchorSeg = x.segments.filter((s) => s.discontinuitySeq === d).pop();
      anchorTs = x.r.snapshot.timescale;
      if (anchorSeg) break;
    }
    if (!anchorSeg) continue;
    const periodStartMs = anchorSeg.periodWallClockMs;
    // One set for the video, one per audio track when the stream has several (each its own language), else one.
    const sets = new Map<string, AdaptationSet>();
    const audioNames = ordered.filter((x) => x.kind === 'audio').map((x) => x.name);
    for (const { r, segments } of perRendition) {
      const inPeriod = segments.filter((s) => s.discontinuitySeq === d);
      const first = inPeriod[0];
      if (!first) continue;
      const ts = r.snapshot.timescale;
      for (const s of inPeriod) maxSegTicksMs = Math.max(maxSegTicksMs, (s.durationTicks * 1000) / ts);
      // Same instant in every representation: the anchor's period start, rescaled exactly by integers.
      const pto = Math.round((anchorSeg.periodStartTicks * ts) / anchorTs);
      const partTicks = r.snapshot.partTargetTicks;
      const grid =
        !r.snapshot.ended && d === discSeqs[discSeqs.length - 1] && keepsUp(r.snapshot, o.publishTimeMs)
          ? numberGrid(inPeriod, pto, r.snapshot.segmentTargetTicks, partTicks)
          : undefined;
      const template: SegmentTemplate = {
        timescale: ts,
        initialization: (o.initName ?? dashNames.init)(r.name, first.initId),
        media: (o.mediaName ?? dashNames.media)(r.name),
        startNumber: grid ? grid.startNumber : first.msn,
        presentationTimeOffset: pto,
        ...(grid
          ? { durationTicks: r.snapshot.segmentTargetTicks }
          : { timeline: segmentTimeline(inPeriod) }),
      };
      if (o.lowLatency) {
        template.availabilityTimeOffsetSec = formatTicks(
          Math.max(0, r.snapshot.segmentTargetTicks - partTicks),
          ts,
          3,
        );
        template.availabilityTimeComplete = false;
      }
      const audioIndex = audioNames.indexOf(r.name);
      const setKey = r.kind === 'audio' && audioNames.length > 1 ? `audio:${r.name}` : r.kind;
      let set = sets.get(setKey);
      if (!set) {
        set = {
          id: r.kind === 'video' ? 0 : 1 + Math.max(0, audioNames.length > 1 ? audioIndex : 0),
          contentType: r.kind,
          mimeType: `${r.kind}/mp4`,
          ...(r.kind === 'audio' && r.language ? { lang: r.language } : {}),
          ...(r.kind === 'audio' && audioNames.length > 1
            ? { role: audioIndex === 0 ? ('main' as const) : ('alternate' as const) }
            : {}),
          representations: [],
        };
        sets.set(setKey, set);
      }
      if (r.kind === 'video' && r.closedCaptions) set.cea608 = `CC1=${r.language ?? 'und'}`;
      set.representations.push({
        id: r.name,
        codecs: r.codec,
        bandwidth: Math.max(1, Math.ceil(r.bandwidth)),
        width: r.width,
        height: r.height,
        frameRate: r.frameRate === undefined ? undefined : frameRateAttr(r.frameRate),
        audioSamplingRate: r.sampleRate,
        audioChannels: r.channelCount,
        segmentTemplate: template,
      });
    }
    periods.push({
      id: `p${d}`,
      startMs: periodStartMs,
      adaptationSets: [...sets.values()].sort((a, b) => a.id - b.id),
    });
  }

  const anchorMs = mpdAnchorMs(periods);
  for (const p of periods) p.startMs = Math.max(0, p.startMs - anchorMs);

  const segTargetMs = ref ? (ref.snapshot.segmentTargetTicks * 1000) / ref.snapshot.timescale : 2000;
  const partTargetMs = ref ? (ref.snapshot.partTargetTicks * 1000) / ref.snapshot.timescale : 500;
  const targetLatencyMs = o.targetLatencyMs ?? Math.round(3 * partTargetMs + 500);
  return {
    availabilityStartTimeMs: anchorMs,
    publishTimeMs: o.publishTimeMs,
    minimumUpdatePeriodMs: segTargetMs,
    timeShiftBufferDepthMs: windowMs,
    suggestedPresentationDelayMs: o.lowLatency ? targetLatencyMs : 3 * segTargetMs,
    maxSegmentDurationMs: Math.max(segTargetMs, maxSegTicksMs),
    minBufferTimeMs: o.lowLatency ? partTargetMs : segTargetMs,
    utcTimingUrl: o.utcTimingUrl,
    serviceDescription: o.lowLatency
      ? {
          targetLatencyMs,
          minLatencyMs: Math.round(targetLatencyMs / 2),
          maxLatencyMs: targetLatencyMs * 2,
          minPlaybackRate: 0.96,
          maxPlaybackRate: 1.04,
        }
      : undefined,
    periods,
    ended: renditions.length > 0 && renditions.every((r) => r.snapshot.ended),
  };
}

/**
 * availabilityStartTime for periods given by their wall-clock starts (Unix ms): the oldest one's. It stays put
 * while that period is listed (every refresh, every reader, every reconnecting client computes the same), except
 * that a period's anchor may move earlier during its first 15 s of media (decision 022), and
 * moves otherwise only when a discontinuity's older period has left the window; then every remaining Period@start moves
 * by the same amount, so AST + Period@start (when each segment is available) does not change. No period: 0.
 */
export function mpdAnchorMs(periods: ReadonlyArray<Pick<Period, 'startMs'>>): number {
  return periods.length === 0 ? 0 : Math.min(...periods.map((p) => p.startMs));
}

/**
 * The live segment number at `nowMs` as ISO/IEC 23009-1 defines it for number-based addressing
 * (SegmentTemplate@duration): startNumber + floor((now - AST - Period@start) / duration). With
 * `ignorePeriodStart`, as ffmpeg 5.1's dashdec and other clients that read only AST compute it. Undefined when
 * the period's representation has a SegmentTimeline.
 */
export function liveSegmentNumber(
  m: Pick<Mpd, 'availabilityStartTimeMs'>,
  period: Pick<Period, 'startMs'>,
  t: Pick<SegmentTemplate, 'startNumber' | 'durationTicks' | 'timescale'>,
  nowMs: number,
  ignorePeriodStart = false,
): number | undefined {
  if (t.durationTicks === undefined || t.durationTicks <= 0) return undefined;
  const sinceMs = nowMs - m.availabilityStartTimeMs - (ignorePeriodStart ? 0 : period.startMs);
  return t.startNumber + Math.floor((sinceMs * t.timescale) / (1000 * t.durationTicks));
}

/** frameRate as DASH wants it: an integer, or a fraction for NTSC rates (30000/1001). */
function frameRateAttr(fps: number): string {
  if (Number.isInteger(fps)) return String(fps);
  const ntsc = Math.round(fps * 1.001);
  if (Math.abs(ntsc / 1.001 - fps) < 0.001) return `${ntsc * 1000}/1001`;
  return `${Math.round(fps * 1000)}/1000`;
}

/** The MPD as an element tree. */
export function mpdToXml(m: Mpd): XmlElement {
  const children: XmlElement[] = [];
  if (m.serviceDescription) {
    const sd = m.serviceDescription;
    children.push({
      name: 'ServiceDescription',
      attrs: { id: 0 },
      children: [
        {
          name: 'Latency',
          attrs: { referenceId: 0, target: sd.targetLatencyMs, min: sd.minLatencyMs, max: sd.maxLatencyMs },
        },
        { name: 'PlaybackRate', attrs: { min: sd.minPlaybackRate, max: sd.maxPlaybackRate } },
      ],
    });
  }
  for (const p of m.periods) {
    children.push({
      name: 'Period',
      attrs: { id: p.id, start: isoDurationMs(p.startMs) },
      children: p.adaptationSets.map((a) => ({
        name: 'AdaptationSet',
        attrs: {
          id: a.id,
          contentType: a.contentType,
          mimeType: a.mimeType,
          lang: a.lang,
          segmentAlignment: 'true',
          startWithSAP: 1,
        },
        children: [...adaptationSetDescriptors(a), ...a.representations.map(representationXml)],
      })),
    });
  }
  children.push({
    name: 'UTCTiming',
    attrs: { schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: m.utcTimingUrl },
  });
  return {
    name: 'MPD',
    attrs: {
      xmlns: 'urn:mpeg:dash:schema:mpd:2011',
      profiles: 'urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019',
      type: m.ended ? 'static' : 'dynamic',
      availabilityStartTime: isoDateTime(m.availabilityStartTimeMs),
      publishTime: isoDateTime(m.publishTimeMs),
      minimumUpdatePeriod: m.ended ? undefined : isoDurationMs(m.minimumUpdatePeriodMs),
      timeShiftBufferDepth: isoDurationMs(m.timeShiftBufferDepthMs),
      suggestedPresentationDelay: isoDurationMs(m.suggestedPresentationDelayMs),
      maxSegmentDuration: isoDurationMs(m.maxSegmentDurationMs),
      minBufferTime: isoDurationMs(m.minBufferTimeMs),
    },
    children,
  };
}

/**
 * Descriptors before the Representations (ISO/IEC 23009-1 5.3.3.2 element order: Accessibility, then Role).
 * CEA-608 in the video: SCTE 214-1 / DASH-IF IOP 6.4.3.3 scheme, value "CC1=eng" (channel=language).
 */
function adaptationSetDescriptors(a: AdaptationSet): XmlElement[] {
  const out: XmlElement[] = [];
  if (a.cea608)
    out.push({
      name: 'Accessibility',
      attrs: { schemeIdUri: 'urn:scte:dash:cc:cea-608:2015', value: a.cea608 },
    });
  if (a.role) out.push({ name: 'Role', attrs: { schemeIdUri: 'urn:mpeg:dash:role:2011', value: a.role } });
  return out;
}

function representationXml(r: Representation): XmlElement {
  const t = r.segmentTemplate;
  const kids: XmlElement[] = [];
  if (r.audioChannels !== undefined) {
    kids.push({
      name: 'AudioChannelConfiguration',
      attrs: {
        schemeIdUri: 'urn:mpeg:dash:23003:3:audio_channel_configuration:2011',
        value: r.audioChannels,
      },
    });
  }
  kids.push({
    name: 'SegmentTemplate',
    attrs: {
      timescale: t.timescale,
      initialization: t.initialization,
      media: t.media,
      startNumber: t.startNumber,
      duration: t.durationTicks,
      presentationTimeOffset: t.presentationTimeOffset,
      availabilityTimeOffset: t.availabilityTimeOffsetSec,
      availabilityTimeComplete:
        t.availabilityTimeComplete === undefined ? undefined : String(t.availabilityTimeComplete),
    },
    children: t.timeline
      ? [
          {
            name: 'SegmentTimeline',
            children: t.timeline.map((s) => ({
              name: 'S',
              attrs: { t: s.t, d: s.d, r: s.r > 0 ? s.r : undefined },
            })),
          },
        ]
      : [],
  });
  return {
    name: 'Representation',
    attrs: {
      id: r.id,
      codecs: r.codecs,
      bandwidth: r.bandwidth,
      width: r.width,
      height: r.height,
      frameRate: r.frameRate,
      audioSamplingRate: r.audioSamplingRate,
    },
    children: kids,
  };
}

/** MPD text. */
export function renderMpd(m: Mpd): string {
  return serializeXml(mpdToXml(m));
}
