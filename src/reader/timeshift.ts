/**
 * DVR and time-shift URLs (issue #11), rendered on request from the tiers: `R/dvr.m3u8` and `dvr.mpd` list the
 * stream's DVR window; `?start=<ISO 8601>[&end=<ISO 8601>]` on `master.m3u8`, a rendition's `index.m3u8` or
 * `dvr.m3u8`, `manifest.mpd` or `dvr.mpd` lists a range of it, as AWS MediaPackage's time-shifted viewing does:
 * - start only (start-over): from the first segment starting at or after `start` to the live edge, growing
 *   (EXT-X-PLAYLIST-TYPE:EVENT; a dynamic MPD);
 * - start and end (catch-up): the segments starting in [start, end); once `end` has passed (the newest segment
 *   reaches it, or the stream ended) EXT-X-ENDLIST and EXT-X-PLAYLIST-TYPE:VOD, a static MPD;
 * - the multivariant playlist lists its variants with the same query.
 * A time that does not parse, a start at or after the end, or a range outside the DVR window answers 400 with the
 * window (ISO times) in the message; an unknown stream 404.
 *
 * Segments come from the SegmentArchive (records of segments already in the cold tier) and the live timeline in
 * Redis (its newest segments, and all it keeps when the two do not meet), merged by msn (core/hls/dvr.ts). Per
 * stream and rendition this reader keeps the merged run in memory and extends it incrementally: a refresh (at
 * most every REFRESH_MS per stream, shared by concurrent requests) reads the stream state, the live timeline's
 * newest segments and the archive records after the newest one it has. Playlists are rendered by a
 * DvrPlaylistRenderer per rendition (full chunks of text kept), MPDs by a DvrMpdRenderer per stream (full chunks'
 * summaries kept), and the body of each view is kept until the run changes: the cost of a request does not grow
 * with the window (bench/dvr.ts; decision 014).
 */
import {
  type DvrSegment,
  DvrMpdRenderer,
  DvrPlaylistRenderer,
  dvrViewRange,
  firstAtOrAfter,
  isoDateTime,
  manifestName,
  measureBitrate,
  renderMultivariant,
  retention,
  segmentEndMs,
  type TimelineSnapshot,
} from '../core/index.js';
import type { MediaStore, SegmentArchive, StreamDirectory, StreamState } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { contentType } from './http-policy.js';
import { type Exchange, send, sendEmpty } from './respond.js';
import type { Route } from './routes.js';

/** The DVR MPD's file name (stream level, beside manifest.mpd). */
export const DVR_MPD = 'dvr.mpd';

/** A stream is refreshed from the store at most this often (requests in between share the last load). */
export const REFRESH_MS = 500;
/** Archive records read per round trip. */
const ARCHIVE_PAGE = 5_000;
/** Streams whose merged timelines are kept (least recently used forgotten first). */
const MAX_STREAMS = 64;
/** Live timeline entries read when the archive and the newest live segments do not meet. */
const MAX_HOT_SEGMENTS = 50_000;

export interface TimeShiftDeps {
  media: MediaStore;
  streams: StreamDirectory;
  /** Absent: the DVR window is what the live timeline in Redis keeps. */
  archive?: SegmentArchive;
  utcTimingUrl?: string;
  now?: () => number;
}

/** A parsed time-shift query. */
interface Range {
  startMs?: number;
  endMs?: number;
  /** The query to carry into the URIs a multivariant playlist lists ("start=...&end=..."). */
  query: string;
}

/** One rendition's merged run and its renderer. */
interface Track {
  /** Consecutive msns, oldest first, trimmed to the window. */
  base: DvrSegment[];
  /** What is served: base, or (while the two sources do not meet) the newest consecutive run. */
  served: DvrSegment[];
  renderer: DvrPlaylistRenderer;
  /** Rendered bodies by view key (cleared when the run changes). */
  bodies: Map<string, string>;
  /** msn of the newest served segment when bodies were rendered. */
  bodiesAt: number;
}

interface StreamTimeline {
  state: StreamState;
  live: Map<string, TimelineSnapshot>;
  tracks: Map<string, Track>;
  loadedAt: number;
  /** Rendered MPDs by view key, with the newest msns they were rendered at. */
  mpds: Map<string, { at: string; body: string }>;
  mpdRenderer: DvrMpdRenderer;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Reads start/end: a time in ms, undefined when absent, or an error message. */
function parseTime(q: URLSearchParams, k: 'start' | 'end'): number | undefined | { error: string } {
  const all = q.getAll(k);
  if (all.length === 0) return undefined;
  if (all.length > 1) return { error: `${k} given twice` };
  const v = all[0]!;
  const ms = ISO.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms))
    return { error: `${k} ${JSON.stringify(v.slice(0, 40))} is not an ISO 8601 date-time` };
  return ms;
}

export class TimeShift {
  private readonly timelines = new Map<string, StreamTimeline>();
  private readonly inflight = new Map<string, Promise<StreamTimeline>>();
  private readonly now: () => number;

  constructor(private readonly d: TimeShiftDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Whether this request is a DVR or time-shift one (served here, not from the stored manifests). */
  wants(r: Route, q: URLSearchParams): boolean {
    if (q.has('start') || q.has('end'))
      return r.kind === 'media-playlist' || r.kind === 'mpd' || r.kind === 'master';
    // Without an archive, the manifest worker's stored dvr.m3u8 (the Redis timeline) is the DVR window.
    if (r.kind === 'media-playlist') return r.file === 'dvr.m3u8' && this.d.archive !== undefined;
    return r.kind === 'mpd' && r.file === DVR_MPD;
  }

  async serve(x: Exchange, r: Route, q: URLSearchParams): Promise<void> {
    if (r.kind !== 'media-playlist' && r.kind !== 'mpd' && r.kind !== 'master')
      throw new ReaderError('NOT_FOUND');
    const start = parseTime(q, 'start');
    const end = parseTime(q, 'end');
    const t = await this.timeline(r.stream);
    const nowMs = this.now();
    const window = windowOf(t);
    const bad = (code: 'TIME_SHIFT_INVALID' | 'TIME_SHIFT_OUTSIDE_WINDOW', why: string): ReaderError =>
      new ReaderError(
        code,
        `${why}; the DVR window is ${window ? `${isoDateTime(window.fromMs)}/${isoDateTime(window.toMs)}` : 'empty'}`,
      );
    if (typeof start === 'object') throw bad('TIME_SHIFT_INVALID', start.error);
    if (typeof end === 'object') throw bad('TIME_SHIFT_INVALID', end.error);
    const range: Range | undefined =
      start === undefined && end === undefined
        ? undefined
        : { startMs: start, endMs: end, query: timeQuery(q) };
    if (range) {
      if (start !== undefined && end !== undefined && start >= end)
        throw bad('TIME_SHIFT_INVALID', 'start must be before end');
      if (!window) throw bad('TIME_SHIFT_OUTSIDE_WINDOW', 'nothing is archived yet');
      if (start !== undefined && (start < window.fromMs || start >= window.toMs))
        throw bad('TIME_SHIFT_OUTSIDE_WINDOW', `start ${isoDateTime(start)} is outside the window`);
      if (end !== undefined && end <= window.fromMs)
        throw bad('TIME_SHIFT_OUTSIDE_WINDOW', `end ${isoDateTime(end)} is before the window`);
    }
    if (r.kind === 'master') return this.master(x, t, range!);
    if (r.kind === 'mpd') return this.mpd(x, t, range, nowMs);
    const track = t.tracks.get(r.rendition);
    if (!track) throw new ReaderError('NOT_FOUND');
    return this.playlist(x, t, r.rendition, track, range);
  }

  private playlist(x: Exchange, t: StreamTimeline, rendition: string, track: Track, range?: Range): void {
    const desc = t.state.renditions.find((d) => d.name === rendition)!;
    const settings = t.state.settings!;
    const newest = track.served[track.served.length - 1];
    const streamEnded = t.live.get(rendition)?.ended === true;
    const view = viewOf(track.served, desc.timescale, settings.dvrWindowSec, range);
    // A catch-up range is over once the newest segment reaches its end (or the stream ended).
    const over =
      streamEnded ||
      (range?.endMs !== undefined &&
        newest !== undefined &&
        segmentEndMs(newest, desc.timescale) >= range.endMs);
    const type = range ? (over ? ('VOD' as const) : ('EVENT' as const)) : undefined;
    const key = `${view.firstMsn}-${view.lastMsn}-${over ? 'E' : ''}${type ?? ''}`;
    if (track.bodiesAt !== (newest?.msn ?? -1)) {
      track.bodies.clear();
      track.bodiesAt = newest?.msn ?? -1;
    }
    let body = track.bodies.get(key);
    if (body === undefined) {
      body = track.renderer.render({
        timescale: desc.timescale,
        segmentTargetTicks: desc.segmentTargetTicks,
        segments: track.served.slice(view.from, view.to),
        ended: over,
        playlistType: type,
      });
      if (track.bodies.size >= 32) track.bodies.clear();
      track.bodies.set(key, body);
    }
    answer(x, manifestName.dvr(rendition), `"d${key}"`, body, retention(settings).targetDurationSec);
  }

  private master(x: Exchange, t: StreamTimeline, range: Range): void {
    const body = renderMultivariant(
      t.state.renditions,
      t.live,
      (name) => `${manifestName.media(name)}?${range.query}`,
    );
    const etag = `"m${t.state.version}-${Buffer.from(range.query).toString('base64url').slice(0, 40)}"`;
    answer(x, manifestName.master, etag, body, retention(t.state.settings!).targetDurationSec);
  }

  private mpd(x: Exchange, t: StreamTimeline, range: Range | undefined, nowMs: number): void {
    const settings = t.state.settings!;
    const views = t.state.renditions.map((desc) => {
      const track = t.tracks.get(desc.name)!;
      return { desc, track, view: viewOf(track.served, desc.timescale, settings.dvrWindowSec, range) };
    });
    const streamEnded = t.state.renditions.every((d) => t.live.get(d.name)?.ended === true);
    const ref = views.find((v) => v.view.to > v.view.from);
    const refNewest = ref?.track.served[ref.track.served.length - 1];
    const over =
      streamEnded ||
      (range?.endMs !== undefined &&
        refNewest !== undefined &&
        segmentEndMs(refNewest, ref!.desc.timescale) >= range.endMs);
    const windowMs =
      range?.startMs !== undefined ? Math.max(0, nowMs - range.startMs) : settings.dvrWindowSec * 1000;
    const key = `${range?.query ?? ''}|${over}`;
    const at = views.map((v) => `${v.view.firstMsn}-${v.view.lastMsn}`).join(',');
    let cached = t.mpds.get(key);
    if (!cached || cached.at !== at) {
      const body = t.mpdRenderer.render(
        views.map((v) => ({
          description: v.desc,
          partTargetTicks: t.live.get(v.desc.name)?.partTargetTicks ?? v.desc.partTargetTicks,
          bandwidth: bitrateOf(t.live.get(v.desc.name)) ?? v.desc.nominalBitrate,
          segments: v.track.served.slice(v.view.from, v.view.to),
        })),
        { publishTimeMs: nowMs, windowMs, utcTimingUrl: this.d.utcTimingUrl ?? '/time', ended: over },
      );
      cached = { at, body };
      if (t.mpds.size >= 32) t.mpds.clear();
      t.mpds.set(key, cached);
    }
    answer(x, DVR_MPD, `"p${at}-${over ? 'E' : ''}"`, cached.body, retention(settings).targetDurationSec);
  }

  /** The stream's merged timelines, refreshed at most every REFRESH_MS (concurrent callers share a refresh). */
  private timeline(stream: string): Promise<StreamTimeline> {
    const t = this.timelines.get(stream);
    if (t && this.now() - t.loadedAt < REFRESH_MS) return Promise.resolve(t);
    const running = this.inflight.get(stream);
    if (running) return running;
    const p = this.refresh(stream, t).finally(() => this.inflight.delete(stream));
    this.inflight.set(stream, p);
    return p;
  }

  private async refresh(stream: string, prev: StreamTimeline | undefined): Promise<StreamTimeline> {
    const state = await this.d.streams.readState(stream);
    if (!state.settings || state.renditions.length === 0) throw new ReaderError('NOT_FOUND');
    const kept = retention(state.settings);
    const { snaps } = await this.d.media.loadTimelines(stream, state, kept.liveSegmentsLoaded, 0);
    const tracks = new Map<string, Track>();
    const mpdRenderer = prev?.mpdRenderer ?? new DvrMpdRenderer();
    for (const desc of state.renditions) {
      const track: Track = prev?.tracks.get(desc.name) ?? {
        base: [],
        served: [],
        renderer: new DvrPlaylistRenderer(),
        bodies: new Map(),
        bodiesAt: -1,
      };
      const live = snaps.get(desc.name)?.segments ?? [];
      await this.extend(stream, state, desc.name, track, live, kept.segmentsKept);
      // Trim to the window plus two segments of margin (by wall clock, as dvrView cuts).
      const newest = track.served[track.served.length - 1];
      if (newest) {
        const fromMs =
          segmentEndMs(newest, desc.timescale) -
          (state.settings.dvrWindowSec + 2 * state.settings.segmentSec) * 1000;
        trimBefore(track.base, fromMs);
        if (track.served !== track.base) trimBefore(track.served, fromMs);
      }
      tracks.set(desc.name, track);
      const oldest = Math.min(track.base[0]?.msn ?? Infinity, track.served[0]?.msn ?? Infinity);
      if (Number.isFinite(oldest)) mpdRenderer.forgetBefore(desc.name, oldest);
    }
    const t: StreamTimeline = {
      state,
      live: snaps,
      tracks,
      loadedAt: this.now(),
      mpds: prev?.mpds ?? new Map(),
      mpdRenderer,
    };
    this.timelines.delete(stream);
    this.timelines.set(stream, t);
    if (this.timelines.size > MAX_STREAMS) this.timelines.delete(this.timelines.keys().next().value!);
    return t;
  }

  /**
   * Extends a track's run with the archive records after its newest segment and the live timeline's segments.
   * When they do not meet the run, the live timeline is read in full (it may still hold what the archive has
   * not written yet); when they still do not meet: if the archive itself skips msns (a cold write was dropped),
   * the gap is permanent and the run restarts after it; otherwise (the archive is behind) the newest consecutive
   * run is served meanwhile and the run kept for when the archive catches up.
   */
  private async extend(
    stream: string,
    state: StreamState,
    rendition: string,
    track: Track,
    live: readonly DvrSegment[],
    hotKept: number,
  ): Promise<void> {
    const settings = state.settings!;
    const last = track.base[track.base.length - 1];
    const records: DvrSegment[] = [];
    if (this.d.archive) {
      let fromMs = last
        ? last.wallClockMs + 1
        : (live[live.length - 1]?.wallClockMs ?? this.now()) -
          settings.dvrWindowSec * 1000 -
          settings.segmentSec * 2000;
      for (;;) {
        const page = await this.d.archive.range(stream, rendition, fromMs, Infinity, ARCHIVE_PAGE);
        records.push(...page);
        if (page.length < ARCHIVE_PAGE) break;
        fromMs = page[page.length - 1]!.wallClockMs + 1;
      }
    }
    const lastMsn = last?.msn ?? -1;
    let cands = newer(records, live, lastMsn);
    if (gapIn(cands, lastMsn) || (!last && records.length === 0 && live.length > 0)) {
      const hot = await this.d.media.loadTimelines(
        stream,
        { ...state, renditions: state.renditions.filter((r) => r.name === rendition) },
        Math.min(hotKept, MAX_HOT_SEGMENTS),
        0,
      );
      cands = newer(cands, hot.snaps.get(rendition)?.segments ?? [], lastMsn);
    }
    let end = last ? lastMsn : (cands[0]?.msn ?? 0) - 1;
    let i = 0;
    while (i < cands.length && cands[i]!.msn === end + 1) {
      track.base.push(strip(cands[i]!));
      end++;
      i++;
    }
    const rest = cands.slice(i);
    if (rest.length === 0) {
      track.served = track.base;
      return;
    }
    let j = rest.length - 1;
    while (j > 0 && rest[j - 1]!.msn === rest[j]!.msn - 1) j--;
    const tail = rest.slice(j).map(strip);
    if (records.some((r) => r.msn > end + 1)) {
      track.base = tail; // the archive skips: that segment is lost for good
      track.served = track.base;
    } else track.served = tail;
  }
}

/** Whether the candidates do not continue the run ending at lastMsn (-1: none yet) without a missing msn. */
function gapIn(cands: readonly DvrSegment[], lastMsn: number): boolean {
  let e = lastMsn >= 0 ? lastMsn : (cands[0]?.msn ?? 0) - 1;
  for (const c of cands) {
    if (c.msn !== e + 1) return true;
    e = c.msn;
  }
  return false;
}

/** Segments of both lists with msn > after, by msn, one per msn (the later list wins). */
function newer(a: readonly DvrSegment[], b: readonly DvrSegment[], after: number): DvrSegment[] {
  const m = new Map<number, DvrSegment>();
  for (const s of a) if (s.msn > after) m.set(s.msn, s);
  for (const s of b) if (s.msn > after) m.set(s.msn, s);
  return [...m.values()].sort((x, y) => x.msn - y.msn);
}

function strip(s: DvrSegment & { parts?: unknown }): DvrSegment {
  if (!('parts' in s)) return s;
  const { parts: _parts, ...rest } = s;
  return rest;
}

/** Drops the segments that started before fromMs. */
function trimBefore(list: DvrSegment[], fromMs: number): void {
  const n = firstAtOrAfter(list, fromMs);
  if (n > 0) list.splice(0, n);
}

/** The DVR window served (first listed segment's start to the newest one's end), from the reference rendition. */
function windowOf(t: StreamTimeline): { fromMs: number; toMs: number } | undefined {
  const settings = t.state.settings!;
  const ordered = [...t.state.renditions].sort((a, b) =>
    a.kind === b.kind ? a.order - b.order : a.kind === 'video' ? -1 : 1,
  );
  for (const desc of ordered) {
    const served = t.tracks.get(desc.name)?.served ?? [];
    const view = viewOf(served, desc.timescale, settings.dvrWindowSec);
    const first = served[view.from];
    const last = served[view.to - 1];
    if (view.to > view.from && first && last)
      return { fromMs: first.wallClockMs, toMs: segmentEndMs(last, desc.timescale) };
  }
  return undefined;
}

/** A view of a served run as indices [from, to) and its msns (-1: empty), without copying the run. */
function viewOf(
  served: readonly DvrSegment[],
  timescale: number,
  dvrWindowSec: number,
  range?: Range,
): { from: number; to: number; firstMsn: number; lastMsn: number } {
  const { from, to } = range
    ? dvrViewRange(served, { windowMs: 0, timescale, fromMs: range.startMs, toMs: range.endMs })
    : dvrViewRange(served, { windowMs: dvrWindowSec * 1000, timescale });
  return {
    from,
    to,
    firstMsn: to > from ? served[from]!.msn : -1,
    lastMsn: to > from ? served[to - 1]!.msn : -1,
  };
}

/** start/end as given, for the variant URIs of a multivariant playlist. */
function timeQuery(q: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const k of ['start', 'end']) {
    const v = q.get(k);
    if (v !== null) out.set(k, v);
  }
  return out.toString();
}

function bitrateOf(snap: TimelineSnapshot | undefined): number | undefined {
  return snap ? measureBitrate(snap)?.peak : undefined;
}

function answer(x: Exchange, name: string, etag: string, body: string, targetSec: number): void {
  x.res.setHeader('ETag', etag);
  if (x.req.headers['if-none-match'] === etag)
    return sendEmpty(x, { status: 304, cls: 'dvr-playlist', targetSec });
  send(x, { cls: 'dvr-playlist', type: contentType(name), body, targetSec });
}
