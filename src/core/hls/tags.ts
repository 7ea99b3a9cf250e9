/**
 * HLS tags as types, one interface per tag, each marshalled by one case of marshalTag (RFC 8216 and
 * draft-pantos-hls-rfc8216bis). Playlists are lists of these; nothing else writes playlist text.
 */
import { formatTicks, isoDateTime } from '../format.js';

/** A duration kept exact: integer ticks in a timescale. */
export interface MediaTime {
  ticks: number;
  timescale: number;
}

export const sec = (t: MediaTime, digits = 3): string => formatTicks(t.ticks, t.timescale, digits);

export interface ExtM3u {
  tag: 'EXTM3U';
}
export interface Version {
  tag: 'EXT-X-VERSION';
  version: number;
}
export interface IndependentSegments {
  tag: 'EXT-X-INDEPENDENT-SEGMENTS';
}
export interface TargetDuration {
  tag: 'EXT-X-TARGETDURATION';
  seconds: number;
}
export interface ServerControl {
  tag: 'EXT-X-SERVER-CONTROL';
  canBlockReload: boolean;
  canSkipUntil?: MediaTime;
  holdBack?: MediaTime;
  partHoldBack?: MediaTime;
}
export interface PartInf {
  tag: 'EXT-X-PART-INF';
  partTarget: MediaTime;
}
export interface MediaSequence {
  tag: 'EXT-X-MEDIA-SEQUENCE';
  msn: number;
}
export interface DiscontinuitySequence {
  tag: 'EXT-X-DISCONTINUITY-SEQUENCE';
  seq: number;
}
export interface Skip {
  tag: 'EXT-X-SKIP';
  skippedSegments: number;
}
export interface Discontinuity {
  tag: 'EXT-X-DISCONTINUITY';
}
export interface Map {
  tag: 'EXT-X-MAP';
  uri: string;
}
export interface ProgramDateTime {
  tag: 'EXT-X-PROGRAM-DATE-TIME';
  unixMs: number;
}
export interface Part {
  tag: 'EXT-X-PART';
  duration: MediaTime;
  uri: string;
  independent: boolean;
}
export interface Inf {
  tag: 'EXTINF';
  duration: MediaTime;
  uri: string;
}
export interface PreloadHint {
  tag: 'EXT-X-PRELOAD-HINT';
  type: 'PART' | 'MAP';
  uri: string;
}
export interface RenditionReport {
  tag: 'EXT-X-RENDITION-REPORT';
  uri: string;
  lastMsn: number;
  lastPart?: number;
}
export interface EndList {
  tag: 'EXT-X-ENDLIST';
}
/** RFC 8216bis 4.4.3.5: VOD (the playlist never changes) or EVENT (it only grows). */
export interface PlaylistType {
  tag: 'EXT-X-PLAYLIST-TYPE';
  type: 'VOD' | 'EVENT';
}
export interface Media {
  tag: 'EXT-X-MEDIA';
  type: 'AUDIO' | 'CLOSED-CAPTIONS';
  groupId: string;
  name: string;
  language?: string;
  isDefault: boolean;
  autoselect: boolean;
  /** CLOSED-CAPTIONS only: the channel in the video's SEI, "CC1".."CC4" (608) or "SERVICE1".."SERVICE63" (708). */
  instreamId?: string;
  channels?: number;
  /** AUDIO: the rendition's playlist. CLOSED-CAPTIONS: none (RFC 8216bis 4.4.6.1: URI MUST NOT be present). */
  uri?: string;
}
export interface StreamInf {
  tag: 'EXT-X-STREAM-INF';
  bandwidth: number;
  averageBandwidth?: number;
  codecs: string[];
  resolution?: { width: number; height: number };
  frameRate?: number;
  audioGroup?: string;
  /** A CLOSED-CAPTIONS group's id, or NONE: no variant of the playlist carries captions (RFC 8216bis 4.4.6.2). */
  closedCaptions?: { groupId: string } | 'NONE';
  uri: string;
}

export type HlsTag =
  | ExtM3u
  | Version
  | IndependentSegments
  | TargetDuration
  | ServerControl
  | PartInf
  | MediaSequence
  | DiscontinuitySequence
  | Skip
  | Discontinuity
  | Map
  | ProgramDateTime
  | Part
  | Inf
  | PreloadHint
  | RenditionReport
  | EndList
  | PlaylistType
  | Media
  | StreamInf;

/** Durations in EXTINF and EXT-X-PART: enough digits to stay exact to well under a 90 kHz tick's worth. */
export const DURATION_DIGITS = 5;

/** A quoted-string attribute value (RFC 8216 4.2): no double quote, CR or LF. */
function quoted(value: string): string {
  if (/["\r\n]/.test(value))
    throw new Error(`HLS quoted-string cannot contain quotes or line breaks: ${JSON.stringify(value)}`);
  return `"${value}"`;
}

function attrs(list: Array<[string, string | number | undefined]>): string {
  return list
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const yesNo = (b: boolean): string => (b ? 'YES' : 'NO');

/** One tag as one line of playlist text. */
export function marshalTag(t: HlsTag): string {
  switch (t.tag) {
    case 'EXTM3U':
    case 'EXT-X-INDEPENDENT-SEGMENTS':
    case 'EXT-X-DISCONTINUITY':
    case 'EXT-X-ENDLIST':
      return `#${t.tag}`;
    case 'EXT-X-VERSION':
      return `#EXT-X-VERSION:${t.version}`;
    case 'EXT-X-PLAYLIST-TYPE':
      return `#EXT-X-PLAYLIST-TYPE:${t.type}`;
    case 'EXT-X-TARGETDURATION':
      return `#EXT-X-TARGETDURATION:${t.seconds}`;
    case 'EXT-X-SERVER-CONTROL':
      return `#EXT-X-SERVER-CONTROL:${attrs([
        ['CAN-BLOCK-RELOAD', t.canBlockReload ? 'YES' : undefined],
        ['CAN-SKIP-UNTIL', t.canSkipUntil && sec(t.canSkipUntil)],
        ['HOLD-BACK', t.holdBack && sec(t.holdBack)],
        ['PART-HOLD-BACK', t.partHoldBack && sec(t.partHoldBack)],
      ])}`;
    case 'EXT-X-PART-INF':
      // As many digits as EXT-X-PART's DURATION: rounded to fewer, the longest part could print above it.
      return `#EXT-X-PART-INF:PART-TARGET=${sec(t.partTarget, DURATION_DIGITS)}`;
    case 'EXT-X-MEDIA-SEQUENCE':
      return `#EXT-X-MEDIA-SEQUENCE:${t.msn}`;
    case 'EXT-X-DISCONTINUITY-SEQUENCE':
      return `#EXT-X-DISCONTINUITY-SEQUENCE:${t.seq}`;
    case 'EXT-X-SKIP':
      return `#EXT-X-SKIP:SKIPPED-SEGMENTS=${t.skippedSegments}`;
    case 'EXT-X-MAP':
      return `#EXT-X-MAP:URI=${quoted(t.uri)}`;
    case 'EXT-X-PROGRAM-DATE-TIME':
      return `#EXT-X-PROGRAM-DATE-TIME:${isoDateTime(t.unixMs)}`;
    case 'EXT-X-PART':
      return `#EXT-X-PART:${attrs([
        ['DURATION', sec(t.duration, DURATION_DIGITS)],
        ['URI', quoted(t.uri)],
        ['INDEPENDENT', t.independent ? 'YES' : undefined],
      ])}`;
    case 'EXTINF':
      return `#EXTINF:${sec(t.duration, DURATION_DIGITS)},\n${t.uri}`;
    case 'EXT-X-PRELOAD-HINT':
      return `#EXT-X-PRELOAD-HINT:${attrs([
        ['TYPE', t.type],
        ['URI', quoted(t.uri)],
      ])}`;
    case 'EXT-X-RENDITION-REPORT':
      return `#EXT-X-RENDITION-REPORT:${attrs([
        ['URI', quoted(t.uri)],
        ['LAST-MSN', t.lastMsn],
        ['LAST-PART', t.lastPart],
      ])}`;
    case 'EXT-X-MEDIA':
      return `#EXT-X-MEDIA:${attrs([
        ['TYPE', t.type],
        ['GROUP-ID', quoted(t.groupId)],
        ['NAME', quoted(t.name)],
        ['LANGUAGE', t.language === undefined ? undefined : quoted(t.language)],
        ['DEFAULT', yesNo(t.isDefault)],
        ['AUTOSELECT', yesNo(t.autoselect)],
        ['INSTREAM-ID', t.instreamId === undefined ? undefined : quoted(t.instreamId)],
        ['CHANNELS', t.channels === undefined ? undefined : quoted(String(t.channels))],
        ['URI', t.uri === undefined ? undefined : quoted(t.uri)],
      ])}`;
    case 'EXT-X-STREAM-INF':
      return `#EXT-X-STREAM-INF:${attrs([
        ['BANDWIDTH', Math.ceil(t.bandwidth)],
        ['AVERAGE-BANDWIDTH', t.averageBandwidth === undefined ? undefined : Math.ceil(t.averageBandwidth)],
        ['CODECS', quoted(t.codecs.join(','))],
        ['RESOLUTION', t.resolution && `${t.resolution.width}x${t.resolution.height}`],
        ['FRAME-RATE', t.frameRate === undefined ? undefined : t.frameRate.toFixed(3)],
        ['AUDIO', t.audioGroup === undefined ? undefined : quoted(t.audioGroup)],
        [
          'CLOSED-CAPTIONS',
          t.closedCaptions === undefined
            ? undefined
            : t.closedCaptions === 'NONE'
              ? 'NONE'
              : quoted(t.closedCaptions.groupId),
        ],
      ])}\n${t.uri}`;
  }
}

/** A playlist's text: one line per tag, ending in a newline. */
export function marshalPlaylist(tags: HlsTag[]): string {
  return `${tags.map(marshalTag).join('\n')}\n`;
}
