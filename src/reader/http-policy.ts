/**
 * What the reader tells a CDN and a player: content types and cache policy per object class, in one place.
 */
export type ObjectClass =
  | 'media' // init, segments, parts: immutable (a URL is never reused with other bytes)
  | 'live-playlist' // plain LL-HLS/HLS media playlist request
  | 'blocking-playlist' // _HLS_msn/_HLS_part request: a future state, cacheable under its query
  | 'multivariant'
  | 'mpd'
  | 'dvr-playlist'
  | 'not-found'
  | 'no-store';

/**
 * Cache-Control per class. Live playlists stay short: about half a segment (never below 1 s, nginx's
 * granularity), LL freshness comes from blocking reloads whose query is part of the CDN cache key. 404s are
 * cached for 1 s so a thundering herd at the live edge does not reach Redis, yet a part appears quickly.
 */
export function cacheControl(cls: ObjectClass, segmentSec = 2): string {
  switch (cls) {
    case 'media':
      return 'public, max-age=86400, immutable';
    case 'blocking-playlist':
      return `public, max-age=${Math.max(6, Math.ceil(segmentSec * 3))}`;
    case 'live-playlist':
    case 'mpd':
      return `public, max-age=${Math.max(1, Math.floor(segmentSec / 2))}`;
    case 'dvr-playlist':
      return `public, max-age=${Math.max(1, Math.floor(segmentSec / 2))}`;
    case 'multivariant':
      return 'public, max-age=5';
    case 'not-found':
      return 'public, max-age=1';
    case 'no-store':
      return 'no-store';
  }
}

export function contentType(file: string, rendition?: string): string {
  if (file.endsWith('.m3u8')) return 'application/vnd.apple.mpegurl';
  if (file.endsWith('.mpd')) return 'application/dash+xml';
  if (file.endsWith('.m4s')) return rendition === 'audio' ? 'audio/iso.segment' : 'video/iso.segment';
  if (file.endsWith('.mp4')) return rendition === 'audio' ? 'audio/mp4' : 'video/mp4';
  if (file.endsWith('.js')) return 'application/javascript; charset=utf-8';
  if (file.endsWith('.html')) return 'text/html; charset=utf-8';
  return 'application/octet-stream';
}

/** Headers browsers need to fetch from another origin (players on a page elsewhere). */
export const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-None-Match, If-Modified-Since',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag, Last-Modified, Age, Date',
  'Access-Control-Max-Age': '86400',
};

/** A single byte range (RFC 9110 14.1.2); undefined = serve the whole body; 'unsatisfiable' = 416. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined; // multiple or malformed ranges: ignore the header, send everything
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
