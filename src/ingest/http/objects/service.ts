/**
 * The MediaStore-compatible object API (issue #10, decision 009): PutObject (STANDARD or STREAMING), GetObject
 * (with Range; an in-progress STREAMING object is streamed as it lands), DescribeObject (HEAD), DeleteObject and
 * ListItems, with SigV4 or token authentication, lifecycle TTLs, CORS and limits. The fallback handler of the
 * ingest HTTP listener. Errors answer in MediaStore's shape (errors.ts) and are logged with their reason, never
 * with a token or signature; a failed upload leaves nothing visible.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../../config.js';
import type { Logger } from '../../../log.js';
import { followUpload } from '../../../store/object-follow.js';
import { isStoreUnavailable } from '../../../store/errors.js';
import type { ObjectMeta, ObjectStore } from '../../../store/ports.js';
import type { HttpHandler } from '../types.js';
import { type AuthVerdict, requestToken, tokenMatches, verifySigV4 } from './auth.js';
import { ObjectApiError } from './errors.js';
import { corsHeaders, objectTtl, sourceAllowed } from './rules.js';
import { type Target, TargetError, parseByteRange, parseTarget } from './target.js';

export type ObjectApiConfig = Config['httpIngest'];
type ContainerConfig = ObjectApiConfig['containers'][number];

export interface ObjectApiOptions {
  store: ObjectStore;
  config: ObjectApiConfig;
  log: Logger;
  now?: () => number;
}

const MAX_LIST = 1000;
/** Chunks of a STREAMING upload stay this long past the upload limit (readers finishing a follow). */
const UPLOAD_SLACK_SEC = 30;

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  target?: Target;
  container?: ContainerConfig;
  who?: string;
  cors?: Record<string, string>;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function objectHeaders(m: ObjectMeta): Record<string, string> {
  const h: Record<string, string> = {
    'Content-Type': m.contentType,
    ETag: m.etag,
    'Last-Modified': new Date(m.lastModifiedMs).toUTCString(),
    'Accept-Ranges': 'bytes',
  };
  if (m.cacheControl !== undefined) h['Cache-Control'] = m.cacheControl;
  return h;
}

/**
 * Content-Type of a PUT that sent none (ffmpeg's muxers send none), from the name; MediaStore stored what it was
 * given, so a given type always wins.
 */
export function typeFromName(name: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  const types: Record<string, string> = {
    m3u8: 'application/vnd.apple.mpegurl',
    mpd: 'application/dash+xml',
    ts: 'video/mp2t',
    m4s: 'video/iso.segment',
    mp4: 'video/mp4',
    cmfv: 'video/mp4',
    cmfa: 'audio/mp4',
    m4a: 'audio/mp4',
    aac: 'audio/aac',
    vtt: 'text/vtt',
    json: 'application/json',
  };
  return (ext && types[ext]) ?? 'application/octet-stream';
}

/** A request body read under a size limit and a deadline; 'gone' when the client went away mid-body. */
async function* bodyChunks(
  req: IncomingMessage,
  o: { limit: number; deadline: number; limitName: string },
): AsyncGenerator<Buffer> {
  const it = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let total = 0;
  for (;;) {
    const remaining = o.deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    let r: IteratorResult<Buffer> | 'timeout';
    try {
      r = await Promise.race([
        it.next(),
        new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), Math.max(0, remaining)))),
      ]);
    } catch {
      throw new BodyGone();
    } finally {
      clearTimeout(timer);
    }
    if (r === 'timeout')
      throw new ObjectApiError(
        'RequestTimeoutException',
        'upload took longer than allowed',
        'upload time limit',
      );
    if (r.done) {
      if (!req.complete) throw new BodyGone();
      return;
    }
    total += r.value.length;
    if (total > o.limit)
      throw new ObjectApiError(
        'PayloadTooLargeException',
        `object larger than ${o.limit} bytes`,
        `body past ${o.limitName} (${o.limit} bytes)`,
      );
    yield r.value;
  }
}

/** The client closed the connection before its body ended. */
class BodyGone extends Error {
  override readonly name = 'BodyGone';
}

export function createObjectApi(o: ObjectApiOptions): HttpHandler {
  const log = o.log.child({ component: 'object-api' });
  const now = o.now ?? Date.now;
  const cfg = o.config;
  const containers = new Map(cfg.containers.map((c) => [c.name, c]));

  async function authenticate(x: Ctx, t: Target): Promise<AuthVerdict> {
    const c = containers.get(t.container);
    const authz = x.req.headers.authorization ?? '';
    if (authz.startsWith('AWS4-HMAC-SHA256'))
      return verifySigV4(x.req, { keys: cfg.accessKeys, maxClockSkewMs: cfg.maxClockSkewMs, now: now() });
    const token = requestToken(x.req, t.query);
    if (token === undefined && !authz) {
      const addr = x.req.socket.remoteAddress;
      if (c && sourceAllowed(c.allowedSourceIps, addr)) return { ok: true, who: `ip:${addr}` };
    }
    if (token === undefined) return { ok: false, reason: 'no credentials' };
    // An unknown container has no tokens: the same refusal as a wrong token (no container probing).
    if (!c || !tokenMatches(token, c.tokens)) return { ok: false, reason: 'wrong token' };
    return { ok: true, who: `token:${c.name}` };
  }

  function refuse(reason: string): never {
    throw new ObjectApiError('AccessDeniedException', 'access denied', reason);
  }

  async function put(x: Ctx, t: Extract<Target, { kind: 'object' }>, verdict: AuthVerdict): Promise<void> {
    const c = x.container!;
    const h = x.req.headers;
    const storage = h['x-amz-storage-class'];
    if (storage !== undefined && storage !== 'TEMPORAL')
      throw new ObjectApiError(
        'BadRequestException',
        'x-amz-storage-class must be TEMPORAL',
        `storage class ${storage}`,
      );
    const avail = (h['x-amz-upload-availability'] as string | undefined) ?? c.defaultAvailability;
    if (avail !== 'STANDARD' && avail !== 'STREAMING')
      throw new ObjectApiError(
        'BadRequestException',
        'x-amz-upload-availability must be STANDARD or STREAMING',
        `upload availability ${avail}`,
      );
    const streaming = avail === 'STREAMING';
    const limit = streaming ? cfg.maxStreamingBytes : cfg.maxObjectBytes;
    const declared = h['content-length'] === undefined ? undefined : Number(h['content-length']);
    if (declared !== undefined && declared > limit)
      throw new ObjectApiError(
        'PayloadTooLargeException',
        `object larger than ${limit} bytes`,
        `Content-Length ${declared} past ${streaming ? 'maxStreamingBytes' : 'maxObjectBytes'} (${limit} bytes)`,
      );
    const contentType = (h['content-type'] as string | undefined) ?? typeFromName(t.rest);
    const cacheControl = h['cache-control'];
    const { ttlSec, rule } = objectTtl(c.lifecycle, t.rest, c.defaultTtlSec);
    const started = now();
    const deadline = Date.now() + cfg.uploadTimeoutMs;
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    const body = bodyChunks(x.req, {
      limit,
      deadline,
      limitName: streaming ? 'maxStreamingBytes' : 'maxObjectBytes',
    });
    const meta = (length: number): ObjectMeta => ({
      contentType,
      ...(cacheControl !== undefined ? { cacheControl } : {}),
      etag: `"${md5.digest('hex')}"`,
      sha256: sha.digest('hex'),
      length,
      lastModifiedMs: now(),
    });
    let stored: ObjectMeta;
    if (!streaming || verdict.ok === 'body') {
      // STANDARD (or a signature over the body's hash): the whole body first, visible only when complete.
      const parts: Buffer[] = [];
      let n = 0;
      for await (const b of body) {
        parts.push(b);
        n += b.length;
        md5.update(b);
        sha.update(b);
      }
      stored = meta(n);
      if (verdict.ok === 'body') {
        const v = await verdict.decide(stored.sha256);
        if (v.ok !== true) refuse(v.ok === false ? v.reason : 'signature');
        x.who = v.who;
      }
      await o.store.put(t.path, Buffer.concat(parts, n), stored, ttlSec);
    } else {
      const id = randomUUID();
      await o.store.begin(
        t.path,
        { id, contentType, ...(cacheControl !== undefined ? { cacheControl } : {}), startedMs: started },
        Math.ceil(cfg.uploadTimeoutMs / 1000) + UPLOAD_SLACK_SEC,
      );
      let n = 0;
      try {
        for await (const b of body) {
          md5.update(b);
          sha.update(b);
          n += b.length;
          if ((await o.store.append(t.path, id, b)) === undefined)
            throw new ObjectApiError(
              'BadRequestException',
              'a newer upload of this path superseded this one',
              'upload superseded',
            );
        }
        stored = meta(n);
        if (!(await o.store.complete(t.path, id, stored, ttlSec)))
          throw new ObjectApiError(
            'BadRequestException',
            'a newer upload of this path superseded this one',
            'upload superseded or expired',
          );
      } catch (err) {
        await o.store.abort(t.path, id).catch(() => undefined);
        throw err;
      }
    }
    log.debug(
      { path: t.path, bytes: stored.length, ttlSec, rule, streaming, who: x.who, ms: now() - started },
      'object stored',
    );
    sendJson(
      x.res,
      200,
      { ContentSHA256: stored.sha256, ETag: stored.etag, StorageClass: 'TEMPORAL' },
      { ETag: stored.etag, ...x.cors },
    );
  }

  async function get(x: Ctx, t: Extract<Target, { kind: 'object' }>): Promise<void> {
    const meta = await o.store.describe(t.path);
    if (!meta) {
      const up = x.req.method === 'GET' ? await o.store.upload(t.path) : undefined;
      if (!up) throw new ObjectApiError('ObjectNotFoundException', 'object not found', 'no such object');
      // In progress: stream its bytes as they land (no length, no range).
      x.res.writeHead(200, {
        'Content-Type': up.contentType,
        ...(up.cacheControl !== undefined ? { 'Cache-Control': up.cacheControl } : {}),
        ...x.cors,
      });
      x.res.flushHeaders();
      const end = await followUpload({
        store: o.store,
        path: t.path,
        upload: up,
        write: (b) => x.res.write(b),
        timeoutMs: cfg.uploadTimeoutMs + 5_000,
        closed: new Promise((r) => x.res.once('close', r)),
      });
      if (end === 'done') x.res.end();
      else x.res.destroy(); // never let a client take a truncated object for a whole one
      return;
    }
    const headers = { ...objectHeaders(meta), ...x.cors };
    if (x.req.method === 'HEAD') {
      x.res.writeHead(200, { ...headers, 'Content-Length': String(meta.length) });
      x.res.end();
      return;
    }
    const range = parseByteRange(x.req.headers.range, meta.length);
    if (range === 'unsatisfiable')
      throw new ObjectApiError('RequestedRangeNotSatisfiableException', 'range not satisfiable', 'range', {
        'Content-Range': `bytes */${meta.length}`,
      });
    const r = await o.store.read(t.path, range);
    if (!r) throw new ObjectApiError('ObjectNotFoundException', 'object not found', 'expired while read');
    if (range) {
      x.res.writeHead(206, {
        ...headers,
        'Content-Range': `bytes ${range.start}-${range.end}/${meta.length}`,
        'Content-Length': String(r.bytes.length),
      });
    } else x.res.writeHead(200, { ...headers, 'Content-Length': String(r.bytes.length) });
    x.res.end(r.bytes);
  }

  async function list(x: Ctx, t: Extract<Target, { kind: 'list' }>): Promise<void> {
    const maxS = t.query.get('MaxResults');
    const max = maxS === null ? MAX_LIST : Number(maxS);
    if (!Number.isInteger(max) || max < 1 || max > MAX_LIST)
      throw new ObjectApiError('BadRequestException', `MaxResults must be 1-${MAX_LIST}`, 'MaxResults');
    const tokenS = t.query.get('NextToken');
    let after: string | undefined;
    if (tokenS) {
      after = Buffer.from(tokenS, 'base64url').toString('utf8');
      if (!/^[A-Za-z0-9_.~-]+\/?$/.test(after))
        throw new ObjectApiError('BadRequestException', 'invalid NextToken', 'NextToken');
    }
    const { items, more } = await o.store.list(t.folder, max, after);
    const last = items[items.length - 1];
    const body: Record<string, unknown> = {
      Items: items.map((i) =>
        i.type === 'FOLDER'
          ? { Name: i.name, Type: 'FOLDER' }
          : {
              Name: i.name,
              Type: 'OBJECT',
              ETag: i.meta!.etag,
              LastModified: i.meta!.lastModifiedMs / 1000,
              ContentType: i.meta!.contentType,
              ContentLength: i.meta!.length,
            },
      ),
    };
    if (more && last)
      body.NextToken = Buffer.from(last.type === 'FOLDER' ? `${last.name}/` : last.name).toString(
        'base64url',
      );
    sendJson(x.res, 200, body, x.cors);
  }

  async function serve(x: Ctx): Promise<void> {
    let t: Target;
    try {
      t = parseTarget(x.req.url);
    } catch (err) {
      if (err instanceof TargetError)
        throw new ObjectApiError('BadRequestException', 'invalid path', err.message);
      throw err;
    }
    x.target = t;
    const method = x.req.method ?? 'GET';
    const c = containers.get(t.container);
    if (method === 'OPTIONS') {
      const reqMethod = x.req.headers['access-control-request-method'];
      const reqHeaders = String(x.req.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean);
      const h = c && corsHeaders(c.cors, x.req.headers.origin, String(reqMethod ?? ''), reqHeaders);
      if (!h)
        throw new ObjectApiError('AccessDeniedException', 'CORS request not allowed', 'no CORS rule matches');
      x.res.writeHead(200, h);
      x.res.end();
      return;
    }
    const verdict = await authenticate(x, t);
    if (verdict.ok === false) refuse(verdict.reason);
    if (verdict.ok === true) x.who = verdict.who;
    if (!c)
      throw new ObjectApiError(
        'ContainerNotFoundException',
        'container not found',
        `container ${t.container}`,
      );
    x.container = c;
    x.cors = corsHeaders(c.cors, x.req.headers.origin, method);
    if (verdict.ok === 'body' && method !== 'PUT') refuse('signature does not match');
    if (t.kind === 'list') {
      if (method !== 'GET')
        throw new ObjectApiError('MethodNotAllowedException', 'method not allowed', method);
      return list(x, t);
    }
    switch (method) {
      case 'PUT':
        return put(x, t, verdict);
      case 'GET':
      case 'HEAD':
        return get(x, t);
      case 'DELETE':
        if (!(await o.store.delete(t.path)))
          throw new ObjectApiError('ObjectNotFoundException', 'object not found', 'no such object');
        sendJson(x.res, 200, {}, x.cors);
        return;
      default:
        throw new ObjectApiError('MethodNotAllowedException', 'method not allowed', method);
    }
  }

  function fail(x: Ctx, err: unknown): void {
    const path = x.target?.kind === 'object' ? x.target.path : x.target?.folder;
    const ctx = { method: x.req.method, path, who: x.who };
    if (err instanceof BodyGone) {
      log.warn({ ...ctx, reason: 'client closed the connection mid-body' }, 'upload cut off; nothing stored');
      x.res.destroy();
      return;
    }
    let e: ObjectApiError;
    if (err instanceof ObjectApiError) e = err;
    else if (isStoreUnavailable(err)) {
      e = new ObjectApiError(
        'ServiceUnavailableException',
        'storage unavailable, retry',
        'store unavailable',
      );
      log.warn({ ...ctx, err }, 'object request failed: store unavailable');
    } else {
      e = new ObjectApiError('InternalServerError', 'internal error', 'bug');
      log.error({ ...ctx, err }, 'object request failed');
    }
    if (e.status < 500)
      log.warn({ ...ctx, status: e.status, type: e.type, reason: e.reason }, 'object request refused');
    if (x.res.headersSent) {
      x.res.destroy();
      return;
    }
    const headers: Record<string, string> = { 'x-amzn-ErrorType': e.type, ...e.headers, ...x.cors };
    // A refused upload's remaining body is not read: close the connection after the answer.
    if (x.req.method === 'PUT' && !x.req.complete) headers.Connection = 'close';
    sendJson(x.res, e.status, { __type: e.type, Message: e.message }, headers);
    if (headers.Connection === 'close') x.res.once('finish', () => x.req.destroy());
  }

  return async (req, res) => {
    const x: Ctx = { req, res };
    try {
      await serve(x);
    } catch (err) {
      fail(x, err);
    }
  };
}
