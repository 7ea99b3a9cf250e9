/**
 * Objects pushed through the object API (issue #10), served publicly at /objects/{container}/{path} with the
 * Content-Type and Cache-Control they were stored with (so an encoder-pushed HLS ladder plays through the CDN as
 * it did from MediaStore behind CloudFront). An object still arriving as a STREAMING upload is streamed as its
 * bytes land (store/object-follow.ts, the LL-DASH in-progress mechanism); if the upload is aborted or runs out of
 * time the connection is cut, so no cache keeps a truncated object.
 */
import { followUpload } from '../store/object-follow.js';
import { objectPathProblem } from '../store/object-path.js';
import type { ObjectMeta, ObjectStore } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { parseRange } from './http-policy.js';
import type { Exchange } from './respond.js';

/** Public path prefix of stored objects. */
export const OBJECTS_PREFIX = '/objects/';

/** The object path a public URL names (decoded pathname), or undefined when it is not a safe one. */
export function storedObjectPath(pathname: string): string | undefined {
  if (!pathname.startsWith(OBJECTS_PREFIX)) return undefined;
  const path = pathname.slice(OBJECTS_PREFIX.length);
  return objectPathProblem(path) === undefined ? path : undefined;
}

/**
 * Cache-Control when the encoder sent none (ffmpeg sends none): manifests short-lived, other objects a minute
 * (an encoder may overwrite a name).
 */
export function defaultObjectCacheControl(path: string, contentType: string): string {
  return /\.(m3u8|mpd)$/.test(path) || /mpegurl|dash\+xml/i.test(contentType)
    ? 'public, max-age=1'
    : 'public, max-age=60';
}

const count = (x: Exchange, status: number): void => x.metrics.httpRequests.inc({ class: 'media', status });

/** How long a reader follows an upload at most, ms (the object API's default upload limit plus slack). */
const FOLLOW_MS = 35_000;

export async function serveStoredObject(
  x: Exchange,
  path: string,
  store: ObjectStore | undefined,
): Promise<void> {
  if (!store) throw new ReaderError('NOT_FOUND');
  const meta = await store.describe(path);
  if (meta) return sendStored(x, path, meta, store);
  const up = x.req.method === 'GET' ? await store.upload(path) : undefined;
  if (!up) throw new ReaderError('NOT_FOUND');
  x.res.writeHead(200, {
    'Content-Type': up.contentType,
    'Cache-Control': up.cacheControl ?? defaultObjectCacheControl(path, up.contentType),
  });
  x.res.flushHeaders();
  count(x, 200);
  const end = await followUpload({
    store,
    path,
    upload: up,
    write: (b) => x.res.write(b),
    timeoutMs: FOLLOW_MS,
    closed: new Promise((r) => x.res.once('close', r)),
  });
  if (end === 'done') x.res.end();
  else x.res.destroy();
}

async function sendStored(x: Exchange, path: string, meta: ObjectMeta, store: ObjectStore): Promise<void> {
  const { res, req } = x;
  res.setHeader('Content-Type', meta.contentType);
  res.setHeader('Cache-Control', meta.cacheControl ?? defaultObjectCacheControl(path, meta.contentType));
  res.setHeader('ETag', meta.etag);
  res.setHeader('Last-Modified', new Date(meta.lastModifiedMs).toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  if (req.headers['if-none-match'] === meta.etag) {
    res.statusCode = 304;
    count(x, 304);
    res.end();
    return;
  }
  const range = parseRange(req.headers.range, meta.length);
  if (range === 'unsatisfiable')
    throw new ReaderError('RANGE_NOT_SATISFIABLE', undefined, { 'Content-Range': `bytes */${meta.length}` });
  if (req.method === 'HEAD') {
    res.setHeader('Content-Length', meta.length);
    count(x, 200);
    res.end();
    return;
  }
  const r = await store.read(path, range ?? undefined);
  if (!r) throw new ReaderError('NOT_FOUND');
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${meta.length}`);
  }
  res.setHeader('Content-Length', r.bytes.length);
  count(x, res.statusCode);
  res.end(r.bytes);
}
