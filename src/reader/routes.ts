/**
 * The reader's URL layout. Anything outside it is a 404 decided here, before Redis is touched; names are
 * checked against the same patterns the store uses, so no URL can name an arbitrary Redis key.
 */
import {
  isSafeName,
  manifestName,
  parseObjectName,
  PUBLIC_RENDITION_PLAYLISTS,
  type RenditionPlaylistFile,
} from '../core/index.js';
import { OBJECTS_PREFIX, storedObjectPath } from './stored-objects.js';

export type Route =
  | { kind: 'master'; stream: string }
  | {
      kind: 'mpd';
      stream: string;
      /** dvr.mpd: the DVR window, rendered on request (timeshift.ts, issue #11). */
      file: typeof manifestName.mpd | typeof manifestName.mpdLowLatency | 'dvr.mpd';
    }
  | { kind: 'media-playlist'; stream: string; rendition: string; file: RenditionPlaylistFile }
  | {
      kind: 'object';
      stream: string;
      rendition: string;
      file: string;
      objectKind: 'init' | 'segment' | 'part';
      msn: number;
      part: number;
    }
  /** An object pushed through the object API (issue #10): /objects/{container}/{path}. */
  | { kind: 'stored-object'; path: string }
  | { kind: 'time' }
  | { kind: 'healthz' }
  | { kind: 'readyz' }
  | { kind: 'streams' }
  | { kind: 'metrics' }
  | { kind: 'page' }
  | { kind: 'vendor'; file: 'hls.min.js' };

const MAX_PATH = 512;

export function route(pathname: string): Route | undefined {
  if (pathname.length > MAX_PATH) return undefined;
  switch (pathname) {
    case '/':
    case '/index.html':
      return { kind: 'page' };
    case '/time':
      return { kind: 'time' };
    case '/healthz':
      return { kind: 'healthz' };
    case '/readyz':
      return { kind: 'readyz' };
    case '/streams':
      return { kind: 'streams' };
    case '/metrics':
      return { kind: 'metrics' };
    case '/vendor/hls.min.js':
      return { kind: 'vendor', file: 'hls.min.js' };
  }
  if (pathname.startsWith(OBJECTS_PREFIX)) {
    const path = storedObjectPath(pathname);
    return path === undefined ? undefined : { kind: 'stored-object', path };
  }
  const parts = pathname.split('/');
  // ['', 'live', stream, ...]
  if (parts[1] !== 'live' || parts.length < 4 || parts.length > 5) return undefined;
  const stream = parts[2]!;
  if (!isSafeName(stream)) return undefined;
  if (parts.length === 4) {
    const f = parts[3]!;
    if (f === manifestName.master) return { kind: 'master', stream };
    if (f === manifestName.mpd || f === manifestName.mpdLowLatency || f === 'dvr.mpd')
      return { kind: 'mpd', stream, file: f };
    return undefined;
  }
  const rendition = parts[3]!;
  const file = parts[4]!;
  if (!isSafeName(rendition)) return undefined;
  if ((PUBLIC_RENDITION_PLAYLISTS as readonly string[]).includes(file))
    return { kind: 'media-playlist', stream, rendition, file: file as RenditionPlaylistFile };
  const o = parseObjectName(file);
  if (!o) return undefined;
  if (o.kind === 'init')
    return { kind: 'object', stream, rendition, file, objectKind: 'init', msn: o.initId, part: -1 };
  if (o.kind === 'segment')
    return { kind: 'object', stream, rendition, file, objectKind: 'segment', msn: o.msn, part: -1 };
  return { kind: 'object', stream, rendition, file, objectKind: 'part', msn: o.msn, part: o.part };
}

/** LL-HLS delivery directives (RFC 8216bis 6.2.5), validated: 400 for anything malformed or huge. */
export interface Directives {
  msn?: number;
  part?: number;
  skip: boolean;
}

export function directives(search: URLSearchParams): Directives | { error: string } {
  const get = (k: string): string | undefined => {
    const all = search.getAll(k);
    if (all.length > 1) throw new Error(`${k} given twice`);
    return all[0];
  };
  try {
    const msnS = get('_HLS_msn');
    const partS = get('_HLS_part');
    const skipS = get('_HLS_skip');
    const int = (s: string, max: number, k: string): number => {
      if (!/^\d{1,16}$/.test(s) || Number(s) > max)
        throw new Error(`${k} must be an integer between 0 and ${max}`);
      return Number(s);
    };
    const msn = msnS === undefined ? undefined : int(msnS, Number.MAX_SAFE_INTEGER, '_HLS_msn');
    const part = partS === undefined ? undefined : int(partS, 10_000, '_HLS_part');
    if (part !== undefined && msn === undefined) return { error: '_HLS_part requires _HLS_msn' };
    if (skipS !== undefined && skipS !== 'YES' && skipS !== 'v2')
      return { error: '_HLS_skip must be YES or v2' };
    return { msn, part, skip: skipS !== undefined };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
