/**
 * Every manifest of a stream, rendered from its state as a pure function: the multivariant playlist, each
 * rendition's LL-HLS media playlist (full and _HLS_skip delta) and DVR playlist, and the MPD (classic and
 * low-latency). The manifest worker reads the state from the store, calls renderManifestSet and stores the result;
 * the golden and parse-back tests call the same function.
 *
 * manifestDependencies says, per file, everything that file's body is a function of (except the clock-only
 * MPD@publishTime), so that a render can skip the files a change did not touch.
 */
import { type DashRendition, buildMpd, keepsUp, renderMpd } from '../dash/mpd.js';
import { buildMediaPlaylist, lastPosition, type PlaylistPosition } from '../hls/media.js';
import { buildMultivariant, type RenditionSummary } from '../hls/multivariant.js';
import { type HlsTag, marshalPlaylist } from '../hls/tags.js';
import { PUBLIC_STREAM_FILES, manifestName, siblingMediaUri } from '../names/names.js';
import { measureBitrate } from '../timeline/bitrate.js';
import { retention } from '../timeline/retention.js';
import type { WindowSettings } from '../timeline/ttl.js';
import type { TimelineSnapshot } from '../timeline/types.js';

/** What a rendition is, as the ingest describes it (stored beside its init segment) and the renderers read it. */
export interface RenditionDescription {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  timescale: number;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channelCount?: number;
  /** Declared bitrate, bits/s, used until segments have been measured. */
  nominalBitrate: number;
  segmentTargetTicks: number;
  partTargetTicks: number;
  /** Position in the ladder (0 = top), for stable ordering. */
  order: number;
  /** ISO 639 language tag of the source track (audio: the rendition's language; video: its captions'). */
  language?: string;
  /** Video: carries CEA-608 captions (CC1) from the source (false: none; absent: not examined). */
  closedCaptions?: boolean;
}

export interface ManifestSetOptions {
  /** Absolute or root-relative URL of the origin's clock (MPD UTCTiming). */
  utcTimingUrl: string;
  /** Low-latency MPD: the player's target latency; default from the part target. */
  targetLatencyMs?: number;
}

export interface ManifestSetInput {
  /** The ladder, top first. */
  renditions: RenditionDescription[];
  /** The stream's stored windows. */
  settings: WindowSettings;
  /** Each rendition's live timeline: the live window plus margin, parts for the newest segments, the open one. */
  live: ReadonlyMap<string, TimelineSnapshot>;
  /**
   * Each rendition's DVR timeline (complete segments of the DVR window), for the renditions whose DVR playlist
   * is rendered; a rendition missing here gets no DVR playlist in this render.
   */
  dvr?: ReadonlyMap<string, TimelineSnapshot>;
  /** Render time, Unix ms: MPD@publishTime, and whether the LL MPD's chain keeps up with the clock. */
  nowMs: number;
  options: ManifestSetOptions;
  /** Render only these file names (default: every file). */
  only?: ReadonlySet<string>;
  /**
   * The renditions the stream will have (names), when known: until each of them is described and has media
   * (streamFileReady), the multivariant playlist and the MPDs are not rendered, so that neither is ever published
   * with fewer renditions than the stream has.
   */
  expectedRenditions?: readonly string[];
}

/** Which timeline read a file was rendered from: its stored version is that read's version. */
export type VersionSource = { kind: 'live' } | { kind: 'dvr'; rendition: string };

export interface ManifestFile {
  /** As in manifestName. */
  name: string;
  body: string;
  /** Media playlists: the rendition's newest msn and part (-1 when none, and for every other file). */
  msn: number;
  part: number;
  /** Media playlists: the EXT-X-TARGETDURATION rendered; other files: the stream's configured target. */
  targetSec: number;
  versionSource: VersionSource;
}

/** Every rendition's newest position (EXT-X-RENDITION-REPORT, blocking reloads, the manifest event). */
export function manifestPositions(
  renditions: RenditionDescription[],
  live: ReadonlyMap<string, TimelineSnapshot>,
): Record<string, PlaylistPosition> {
  const positions: Record<string, PlaylistPosition> = {};
  for (const r of renditions) {
    const p = lastPosition(snapOf(live, r.name));
    if (p) positions[r.name] = p;
  }
  return positions;
}

/**
 * Whether a stream-level file (the multivariant playlist, an MPD) can be rendered with every rendition the
 * stream is expected to have: each is described (its init segment arrived) and has the media that file lists it
 * with. The multivariant playlist and the low-latency MPD list a rendition from its first part (a variant without
 * media would be an empty playlist: hls.js levelEmptyError); the classic MPD lists complete segments only, so it
 * waits for every rendition's first segment (before that it would have fewer Representations, or no Period at
 * all). Without an expectation, whatever is described is the stream. Media playlists are always ready.
 */
export function streamFileReady(
  input: Pick<ManifestSetInput, 'renditions' | 'live' | 'expectedRenditions'>,
  name: string,
): boolean {
  if (!(PUBLIC_STREAM_FILES as readonly string[]).includes(name)) return true;
  return (input.expectedRenditions ?? []).every((r) => {
    if (!input.renditions.some((d) => d.name === r)) return false;
    const snap = input.live.get(r);
    if (!snap) return false;
    if (snap.segments.length > 0) return true;
    return name !== manifestName.mpd && (snap.open?.parts.length ?? 0) > 0;
  });
}

export function renderManifestSet(input: ManifestSetInput): ManifestFile[] {
  const { renditions, settings: s, live, only } = input;
  const want = (name: string): boolean => (!only || only.has(name)) && streamFileReady(input, name);
  const configuredTarget = retention(s).targetDurationSec;
  const positions = manifestPositions(renditions, live);
  const out: ManifestFile[] = [];
  const streamFile = (name: string, body: string): ManifestFile => ({
    name,
    body,
    msn: -1,
    part: -1,
    targetSec: configuredTarget,
    versionSource: { kind: 'live' },
  });

  if (want(manifestName.master))
    out.push(
      streamFile(manifestName.master, marshalPlaylist(buildMultivariant(summaries(renditions, live)))),
    );

  for (const r of renditions) {
    const snap = snapOf(live, r.name);
    const windowTicks = s.windowSec * r.timescale;
    const pos = positions[r.name];
    const reports = renditions
      .filter((o) => o.name !== r.name && positions[o.name])
      .map((o) => ({
        uri: siblingMediaUri(o.name),
        lastMsn: positions[o.name]!.msn,
        lastPart: positions[o.name]!.part >= 0 ? positions[o.name]!.part : undefined,
      }));
    const media = (name: string, skip: boolean): void => {
      if (!want(name)) return;
      const tags = buildMediaPlaylist(snap, {
        windowTicks,
        lowLatency: true,
        skip,
        renditionReports: reports,
      });
      out.push({
        name,
        body: marshalPlaylist(tags),
        msn: pos ? pos.msn : -1,
        part: pos ? pos.part : -1,
        targetSec: targetOf(tags),
        versionSource: { kind: 'live' },
      });
    };
    media(manifestName.media(r.name), false);
    media(manifestName.mediaSkip(r.name), true);
    const dvrSnap = input.dvr?.get(r.name);
    if (dvrSnap && want(manifestName.dvr(r.name))) {
      const tags = buildMediaPlaylist(
        { ...dvrSnap, open: undefined },
        { windowTicks: s.dvrWindowSec * r.timescale, lowLatency: false },
      );
      out.push({
        name: manifestName.dvr(r.name),
        body: marshalPlaylist(tags),
        msn: -1,
        part: -1,
        targetSec: targetOf(tags),
        versionSource: { kind: 'dvr', rendition: r.name },
      });
    }
  }

  if (want(manifestName.mpd) || want(manifestName.mpdLowLatency)) {
    const dash = dashRenditions(renditions, live);
    const common = {
      publishTimeMs: input.nowMs,
      windowMs: s.windowSec * 1000,
      utcTimingUrl: input.options.utcTimingUrl,
      targetLatencyMs: input.options.targetLatencyMs,
    };
    if (want(manifestName.mpd))
      out.push(streamFile(manifestName.mpd, renderMpd(buildMpd(dash, { ...common, lowLatency: false }))));
    if (want(manifestName.mpdLowLatency))
      out.push(
        streamFile(manifestName.mpdLowLatency, renderMpd(buildMpd(dash, { ...common, lowLatency: true }))),
      );
  }
  return out;
}

/**
 * What each file's body depends on, as one string per file name: two renders with equal keys give equal bodies
 * (the MPDs' publishTime aside, which only has to change when the MPD does). A file with no key (the LL media
 * playlists, full and skip) changes with every part of any rendition, because of EXT-X-PART, the preload hint
 * and EXT-X-RENDITION-REPORT, and is rendered every time.
 *
 * - Multivariant playlist: the ladder and the bitrates measured over complete segments.
 * - DVR playlist: the rendition's complete segments (never the open one) and whether it ended.
 * - Classic MPD: complete segments of the live window; which renditions are listed at all (a rendition appears
 *   with its first open segment, and the first listed video rendition gives the MPD's targets); ended; like the
 *   LL MPD, the part target (number-grid tolerance) and whether the chain keeps up (number-based addressing or a
 *   SegmentTimeline, docs/decisions/007-classic-mpd-addressing.md). The open segment itself is not in it.
 * - Low-latency MPD: the same, plus the open segment (announced with the target duration, so its identity counts,
 *   not its parts), the advertised part target (it grows when a longer part is seen:
 *   availabilityTimeOffset, grid tolerance, latency targets), and per rendition whether its chain keeps up with
 *   the clock (keepsUp): a chain lagging more than a segment switches that representation from number-based
 *   addressing to a SegmentTimeline, and back. That flag is the only clock dependency; it is evaluated at every
 *   render, so a flip is rendered with the next change (as before, nothing renders without a change).
 */
export function manifestDependencies(
  input: Pick<ManifestSetInput, 'renditions' | 'settings' | 'live' | 'nowMs' | 'options'>,
): Map<string, string> {
  const { renditions, live } = input;
  const ladder = JSON.stringify([renditions, input.settings, input.options]);
  const complete = (snap: TimelineSnapshot): string => {
    const segs = snap.segments;
    return `${segs[0]?.msn ?? -1}-${segs[segs.length - 1]?.msn ?? -1}:${snap.ended ? 'E' : ''}`;
  };
  const targets = (snap: TimelineSnapshot): string => `${snap.timescale}/${snap.segmentTargetTicks}`;
  const keys = new Map<string, string>();
  const per = renditions.map((r) => ({ r, snap: snapOf(live, r.name) }));
  keys.set(manifestName.master, `${ladder}|${per.map((x) => complete(x.snap)).join(',')}`);
  const listed = (snap: TimelineSnapshot): string =>
    snap.segments.length > 0 || snap.open ? 'listed' : 'unlisted';
  // Number-based addressing (decision 007) also depends on the grid tolerance (the part target) and keepsUp.
  const classic = per.map(
    (x) =>
      `${complete(x.snap)}/${listed(x.snap)}/${targets(x.snap)}/${x.snap.partTargetTicks}/${keepsUp(x.snap, input.nowMs) ? 'up' : 'behind'}`,
  );
  keys.set(manifestName.mpd, `${ladder}|${classic.join(',')}`);
  const ll = per.map((x, i) => {
    const o = x.snap.open;
    const open = o ? `${o.msn}/${o.startTicks}/${o.discontinuitySeq}/${o.initId}` : '-';
    const up = keepsUp(x.snap, input.nowMs) ? 'up' : 'behind';
    return `${classic[i]}/${x.snap.partTargetTicks}/${up}/${open}`;
  });
  keys.set(manifestName.mpdLowLatency, `${ladder}|${ll.join(',')}`);
  for (const { r, snap } of per)
    keys.set(manifestName.dvr(r.name), `${ladder}|${complete(snap)}/${targets(snap)}`);
  return keys;
}

/**
 * The multivariant playlist with each media playlist's URI given by mediaUri: time-shift URLs (issue #11) carry
 * their ?start=&end= query into the variants they list.
 */
export function renderMultivariant(
  renditions: RenditionDescription[],
  live: ReadonlyMap<string, TimelineSnapshot>,
  mediaUri: (rendition: string) => string,
): string {
  const listed = summaries(renditions, live).map((s) => ({ ...s, uri: mediaUri(s.name) }));
  return marshalPlaylist(buildMultivariant(listed));
}

function snapOf(live: ReadonlyMap<string, TimelineSnapshot>, name: string): TimelineSnapshot {
  const s = live.get(name);
  if (!s) throw new Error(`no timeline for rendition ${name}`);
  return s;
}

function summaries(
  renditions: RenditionDescription[],
  live: ReadonlyMap<string, TimelineSnapshot>,
): RenditionSummary[] {
  return renditions.map((r) => renditionSummary(r, snapOf(live, r.name), manifestName.media(r.name)));
}

/** A rendition as the multivariant playlist lists it: bitrates measured over its timeline, else nominal. */
export function renditionSummary(
  r: RenditionDescription,
  snap: TimelineSnapshot,
  uri: string,
): RenditionSummary {
  const rate = measureBitrate(snap);
  return {
    name: r.name,
    kind: r.kind,
    codec: r.codec,
    uri,
    peakBitrate: rate?.peak ?? r.nominalBitrate,
    averageBitrate: rate?.average ?? r.nominalBitrate,
    width: r.width,
    height: r.height,
    frameRate: r.frameRate,
    channelCount: r.channelCount,
    ...(r.kind === 'audio' ? { language: r.language } : {}),
    ...(r.kind === 'video' ? { closedCaptions: r.closedCaptions, captionsLanguage: r.language } : {}),
  };
}

function dashRenditions(
  renditions: RenditionDescription[],
  live: ReadonlyMap<string, TimelineSnapshot>,
): DashRendition[] {
  return renditions
    .filter((r) => snapOf(live, r.name).segments.length > 0 || snapOf(live, r.name).open)
    .map((r) => {
      const snapshot = snapOf(live, r.name);
      return {
        name: r.name,
        kind: r.kind,
        codec: r.codec,
        bandwidth: measureBitrate(snapshot)?.peak ?? r.nominalBitrate,
        width: r.width,
        height: r.height,
        frameRate: r.frameRate,
        sampleRate: r.sampleRate,
        channelCount: r.channelCount,
        language: r.language,
        closedCaptions: r.closedCaptions,
        snapshot,
      };
    });
}

/** The EXT-X-TARGETDURATION a playlist was rendered with. */
function targetOf(tags: HlsTag[]): number {
  for (const t of tags) if (t.tag === 'EXT-X-TARGETDURATION') return t.seconds;
  throw new Error('a media playlist without EXT-X-TARGETDURATION');
}
