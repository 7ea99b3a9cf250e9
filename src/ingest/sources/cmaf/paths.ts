/**
 * Publishing point paths of DASH-IF CMAF ingest (Interface 1): `{root}{stream}/{track}` or the DASH-IF form
 * `{root}{stream}/Streams({track})`, optionally followed by one segment name (one-segment-per-request senders
 * name each segment; the track decides the rendition). The track's file extension is not part of its name:
 * `video.cmfv` is rendition `video`.
 */
import { isSafeName, SAFE_NAME_RULE } from '../../../core/index.js';

export type IngestPath =
  { ok: true; stream: string; track: string } | { ok: false; status: 400 | 403; reason: string };

/** CMAF track file extensions (CMAF 7.3 brands' files) and the usual fragmented MP4 ones. */
const TRACK_EXTENSION = /\.(cmfv|cmfa|cmft|cmfm|cmf|mp4|m4s|m4v|m4a|mp4v|mp4a)$/i;
const STREAMS_FORM = /^Streams\((.*)\)$/;

/** Splits a request URL (path and query) under `root` into stream and track, refusing traversal and bad names. */
export function parseIngestPath(url: string, root: string): IngestPath {
  const path = url.split('?', 1)[0]!;
  if (!path.startsWith(root)) return { ok: false, status: 403, reason: `path is not under ${root}` };
  const raw = path.slice(root.length).split('/');
  const segments: string[] = [];
  for (const r of raw) {
    let s: string;
    try {
      s = decodeURIComponent(r);
    } catch {
      return { ok: false, status: 400, reason: 'path has a malformed percent-encoding' };
    }
    // Traversal, plain or percent-encoded (%2e%2e, %2f): refused as a path the sender may not use.
    if (s === '..' || s === '.' || s.includes('/') || s.includes('\\') || s.includes('\0'))
      return { ok: false, status: 403, reason: 'path traversal refused' };
    segments.push(s);
  }
  if (segments.length < 2 || segments.length > 3 || segments.some((s) => s === ''))
    return { ok: false, status: 400, reason: 'path must be {stream}/{track} or {stream}/Streams({track})' };
  const [stream, rawTrack] = segments as [string, string];
  if (!isSafeName(stream)) return { ok: false, status: 400, reason: `stream name ${SAFE_NAME_RULE}` };
  const track = (STREAMS_FORM.exec(rawTrack)?.[1] ?? rawTrack).replace(TRACK_EXTENSION, '');
  if (!isSafeName(track)) return { ok: false, status: 400, reason: `track name ${SAFE_NAME_RULE}` };
  return { ok: true, stream, track };
}

/** The publish key: `?key=` in the query, else `Authorization: Bearer <key>`. Empty when neither. */
export function publishKey(url: string, authorization: string | undefined): string {
  const q = url.indexOf('?');
  if (q >= 0) {
    const key = new URLSearchParams(url.slice(q + 1)).get('key');
    if (key) return key;
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m ? m[1]! : '';
}
