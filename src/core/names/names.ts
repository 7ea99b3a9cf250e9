/**
 * Every name Wellspring gives a thing, with its grammar, in one place: stream and rendition names, media object
 * file names (format and parse), and manifest names. The ingest, the renderer, the store and the reader all call
 * these; nothing else spells a name.
 */

/** Stream, rendition and key-prefix names end up in Redis keys and URL paths: a strict set, nothing that escapes. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const SAFE_NAME_RULE = 'must be 1-64 characters of A-Z a-z 0-9 _ - (starting with a letter or digit)';

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

export class UnsafeNameError extends Error {
  constructor(
    readonly kind: string,
    readonly value: string,
  ) {
    super(`unsafe ${kind} name ${JSON.stringify(value)}`);
    this.name = 'UnsafeNameError';
  }
}

export function assertSafeName(kind: 'stream' | 'rendition' | 'prefix' | 'object', name: string): void {
  if (!SAFE_NAME.test(name)) throw new UnsafeNameError(kind, name);
}

/** How a rendition names its media objects; the same names serve HLS and DASH. */
export interface MediaUris {
  init(initId: number): string;
  segment(msn: number): string;
  part(msn: number, partIndex: number): string;
}

/** Media objects inside a rendition folder: init-<id>.mp4, seg-<msn>.m4s, part-<msn>.<index>.m4s. */
export const objectName: MediaUris = {
  init: (id) => `init-${id}.mp4`,
  segment: (msn) => `seg-${msn}.m4s`,
  part: (msn, i) => `part-${msn}.${i}.m4s`,
};

/** The DASH SegmentTemplate forms of the same names, relative to the MPD. */
export const dashNames = {
  init: (rendition: string, initId: number): string => `${rendition}/${objectName.init(initId)}`,
  media: (rendition: string): string => `${rendition}/seg-$Number$.m4s`,
};

export type ObjectRef =
  | { kind: 'init'; file: string; initId: number }
  | { kind: 'segment'; file: string; msn: number }
  | { kind: 'part'; file: string; msn: number; part: number };

const OBJECT_FILE = /^(?:init-(\d{1,9})\.mp4|seg-(\d{1,15})\.m4s|part-(\d{1,15})\.(\d{1,4})\.m4s)$/;

/** Parses a media object file name; undefined for anything that is not exactly one of ours. */
export function parseObjectName(file: string): ObjectRef | undefined {
  const m = OBJECT_FILE.exec(file);
  if (!m) return undefined;
  if (m[1] !== undefined) return { kind: 'init', file, initId: Number(m[1]) };
  if (m[2] !== undefined) return { kind: 'segment', file, msn: Number(m[2]) };
  return { kind: 'part', file, msn: Number(m[3]), part: Number(m[4]) };
}

export function isObjectName(file: string): boolean {
  return OBJECT_FILE.test(file);
}

/**
 * Stored manifest names (relative to the stream) and the public file names they are served under. The skip
 * variant is the _HLS_skip=YES delta of the rendition's index.m3u8; it has no URL of its own.
 */
export const manifestName = {
  master: 'master.m3u8',
  mpd: 'manifest.mpd',
  mpdLowLatency: 'manifest-ll.mpd',
  media: (rendition: string): string => `${rendition}/index.m3u8`,
  mediaSkip: (rendition: string): string => `${rendition}/index-skip.m3u8`,
  dvr: (rendition: string): string => `${rendition}/dvr.m3u8`,
} as const;

/** A rendition's playlist as seen from a sibling rendition's playlist (EXT-X-RENDITION-REPORT). */
export const siblingMediaUri = (rendition: string): string => `../${manifestName.media(rendition)}`;

/** File names a stream's folder and a rendition's folder answer to. */
export const PUBLIC_STREAM_FILES = [
  manifestName.master,
  manifestName.mpd,
  manifestName.mpdLowLatency,
] as const;
export type StreamFile = (typeof PUBLIC_STREAM_FILES)[number];
export const PUBLIC_RENDITION_PLAYLISTS = ['index.m3u8', 'dvr.m3u8'] as const;
export type RenditionPlaylistFile = (typeof PUBLIC_RENDITION_PLAYLISTS)[number];

/** Public URL paths of a stream (the reader's layout), for listings and pages. */
export const publicPath = {
  master: (stream: string): string => `/live/${stream}/${manifestName.master}`,
  mpd: (stream: string): string => `/live/${stream}/${manifestName.mpd}`,
  mpdLowLatency: (stream: string): string => `/live/${stream}/${manifestName.mpdLowLatency}`,
};
