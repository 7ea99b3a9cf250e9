/**
 * Issue #11: the cold tier's key layout and the media ETag, pure. Every process that writes, reads, sweeps or
 * harvests cold objects spells their keys here:
 * - live media: `live/{stream}/{rendition}/{file}` (file = objectName: init-N.mp4, seg-N.m4s);
 * - VOD assets: `vod/{asset}/{path}`.
 */
import { assertSafeName, isObjectName } from './names.js';

/** Cold keys of live media and VOD assets, and the prefixes a sweep or a listing walks. */
export const coldKey = {
  live: (stream: string, rendition: string, file: string): string => `live/${stream}/${rendition}/${file}`,
  liveStreamPrefix: (stream: string): string => `live/${stream}/`,
  liveRenditionPrefix: (stream: string, rendition: string): string => `live/${stream}/${rendition}/`,
  vod: (asset: string, path: string): string => `vod/${asset}/${path}`,
  vodPrefix: (asset: string): string => `vod/${asset}/`,
} as const;

/** Checked form of coldKey.live: throws UnsafeNameError for a name that could escape its folder. */
export function liveColdKey(stream: string, rendition: string, file: string): string {
  assertSafeName('stream', stream);
  assertSafeName('rendition', rendition);
  if (!isObjectName(file)) assertSafeName('object', file);
  return coldKey.live(stream, rendition, file);
}

export interface LiveColdRef {
  stream: string;
  rendition: string;
  file: string;
}

const LIVE_KEY = /^live\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([^/]+)$/;

/** Parses a live media cold key; undefined for anything else. */
export function parseLiveColdKey(key: string): LiveColdRef | undefined {
  const m = LIVE_KEY.exec(key);
  if (!m || !isObjectName(m[3]!)) return undefined;
  return { stream: m[1]!, rendition: m[2]!, file: m[3]! };
}

/**
 * The strong ETag the reader serves for a media object: byte length (hex) and file name, quoted. Media objects
 * are immutable under their name, so the same bytes read from Redis or from the cold tier answer the same ETag
 * (src/reader/media.ts sendObject computes the same string from the bytes it serves).
 */
export function mediaEtag(file: string, byteLength: number): string {
  return `"${byteLength.toString(16)}-${file}"`;
}

/** The ETag of a cold object: mediaEtag of the key's last path segment. */
export function coldEtag(key: string, byteLength: number): string {
  const slash = key.lastIndexOf('/');
  return mediaEtag(slash < 0 ? key : key.slice(slash + 1), byteLength);
}
