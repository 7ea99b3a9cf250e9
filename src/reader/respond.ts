/**
 * Writing answers: every response goes through here, with its cache class (http-policy.ts) and one count in
 * wellspring_http_requests_total. Options objects, not positional lists.
 *
 * The hot path (playlists, MPDs, media objects) answers from a `PreparedBody`: the bytes, the ETag and the whole
 * header list built once per stored object or manifest render, written with one writeHead(status, rawHeaders)
 * and one end(buffer) — no per-request setHeader calls, string formatting or copies — or, for a manifest's 200
 * on a plain keep-alive connection, as one Buffer of head and body in one socket write (raw-answer.ts). CORS headers are part of
 * that list; for other answers they are set when the answer starts (`applyCors`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';
import type { ReaderError } from './errors.js';
import { CORS_HEADERS, type ObjectClass, cacheControl } from './http-policy.js';
import { trySendRaw } from './raw-answer.js';

/** One request and what answering it needs. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  metrics: Metrics;
  /** CORS headers not set yet: the answer sets them (a prepared answer carries them in its header list). */
  corsPending?: boolean;
}

const CORS_RAW: string[] = Object.entries(CORS_HEADERS).flat();

/** Sets the CORS headers now unless already set. */
export function applyCors(x: Exchange): void {
  if (x.corsPending === false) return;
  x.corsPending = false;
  for (const [k, v] of Object.entries(CORS_HEADERS)) x.res.setHeader(k, v);
}

/** A body and everything its answers share, built once (per stored object, per manifest render and class). */
export interface PreparedBody {
  readonly body: Buffer;
  readonly etag: string;
  readonly cls: ObjectClass;
  /** writeHead's raw list for a 200 (CORS, type, cache policy, validators, length). */
  readonly ok: readonly string[];
  /** writeHead's raw list for a 304 (the same validators and cache policy, no body headers). */
  readonly notModified: readonly string[];
}

export function prepareBody(o: {
  body: Buffer;
  etag: string;
  cls: ObjectClass;
  type: string;
  targetSec?: number;
  lastModified?: string;
  acceptRanges?: boolean;
}): PreparedBody {
  const cache = cacheControl(o.cls, o.targetSec);
  const validators = ['ETag', o.etag];
  if (o.lastModified) validators.push('Last-Modified', o.lastModified);
  if (o.acceptRanges) validators.push('Accept-Ranges', 'bytes');
  return {
    body: o.body,
    etag: o.etag,
    cls: o.cls,
    ok: [
      ...CORS_RAW,
      'Content-Type',
      o.type,
      'Cache-Control',
      cache,
      ...validators,
      'Content-Length',
      String(o.body.length),
    ],
    notModified: [...CORS_RAW, 'Cache-Control', cache, ...validators],
  };
}

/** Answers counted by the caller in one step (a release loop answers hundreds at once): per status. */
export interface Tally {
  ok: number;
  notModified: number;
}

/**
 * A prepared answer in full: 304 when If-None-Match names its ETag, else 200 (no body on HEAD). Headers set
 * before (by a hook) stay unless the list names them. A 200 with a body goes out in one socket write of head and
 * body when the response allows it (raw-answer.ts), else through writeHead + end. With a tally the answer is
 * counted there (the caller adds the tally to the metrics with countAnswers), else here.
 */
export function sendPrepared(x: Exchange, p: PreparedBody, tally?: Tally): void {
  x.corsPending = false;
  if (ifNoneMatch(x.req) === p.etag) {
    x.res.writeHead(304, p.notModified as string[]);
    if (tally) tally.notModified++;
    else count(x, p.cls, 304);
    x.res.end();
    return;
  }
  if (tally) tally.ok++;
  else count(x, p.cls, 200);
  // Manifests only: a media object's raw bytes would be a second copy of it beside the media cache's (parts are
  // under RAW_MAX_BODY), outside the cache's byte budget.
  if (p.cls !== 'media' && trySendRaw(x.res, x.req.method, p)) return;
  x.res.writeHead(200, p.ok as string[]);
  x.res.end(x.req.method === 'HEAD' ? undefined : p.body);
}

/** Adds a tally of prepared answers of one class to wellspring_http_requests_total. */
export function countAnswers(metrics: Metrics, cls: ObjectClass, t: Tally): void {
  if (t.ok > 0) counter(metrics, cls, 200).inc(t.ok);
  if (t.notModified > 0) counter(metrics, cls, 304).inc(t.notModified);
}

/**
 * If-None-Match from the raw header list: `req.headers` builds an object of every header on first use, which a
 * request on the fast lane otherwise never needs (a CDN sends a dozen headers).
 */
function ifNoneMatch(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 13 && k.toLowerCase() === 'if-none-match') return raw[i + 1];
  }
  return undefined;
}

export interface BodyAnswer {
  status?: 200 | 206;
  cls: ObjectClass;
  type: string;
  body: Buffer | string;
  /** Target duration of the manifest being served, s (live cache lifetimes follow it). */
  targetSec?: number;
}

export interface EmptyAnswer {
  status: 204 | 304;
  cls: ObjectClass;
  targetSec?: number;
}

/** The counter's child per (class, status), looked up once: prom-client hashes the labels on every inc(). */
const counters = new WeakMap<Metrics, Map<string, { inc(n?: number): void }>>();

function counter(metrics: Metrics, cls: ObjectClass, status: number): { inc(n?: number): void } {
  let byKey = counters.get(metrics);
  if (!byKey) counters.set(metrics, (byKey = new Map()));
  const key = `${cls} ${status}`;
  let c = byKey.get(key);
  if (!c) byKey.set(key, (c = metrics.httpRequests.labels({ class: cls, status })));
  return c;
}

function count(x: Exchange, cls: ObjectClass, status: number): void {
  counter(x.metrics, cls, status).inc();
}

/** A complete body (omitted on HEAD, with the Content-Length it would have). */
export function send(x: Exchange, o: BodyAnswer): void {
  const status = o.status ?? 200;
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  applyCors(x);
  x.res.statusCode = status;
  x.res.setHeader('Content-Type', o.type);
  x.res.setHeader('Cache-Control', cacheControl(o.cls, o.targetSec));
  x.res.setHeader('Content-Length', body.length);
  count(x, o.cls, status);
  x.res.end(x.req.method === 'HEAD' ? undefined : body);
}

/** 204 / 304: headers only. */
export function sendEmpty(x: Exchange, o: EmptyAnswer): void {
  applyCors(x);
  x.res.statusCode = o.status;
  x.res.setHeader('Cache-Control', cacheControl(o.cls, o.targetSec));
  count(x, o.cls, o.status);
  x.res.end();
}

/** Starts a body of unknown length (chunked): the caller writes and ends it. */
export function startStream(x: Exchange, o: { cls: ObjectClass; type: string }): void {
  applyCors(x);
  x.res.writeHead(200, { 'Content-Type': o.type, 'Cache-Control': cacheControl(o.cls) });
  x.res.flushHeaders();
  count(x, o.cls, 200);
}

/** An error from the catalogue: its status, cache class, Retry-After and a one-line text body "CODE: message". */
export function sendError(x: Exchange, e: ReaderError): void {
  const { res } = x;
  applyCors(x);
  if (e.status >= 500) {
    // Validators describe a representation; an error is none.
    res.removeHeader('ETag');
    res.removeHeader('Last-Modified');
  }
  res.statusCode = e.status;
  res.setHeader('Cache-Control', cacheControl(e.spec.cache));
  if (e.spec.retryAfter !== undefined) res.setHeader('Retry-After', String(e.spec.retryAfter));
  for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
  const text = `${e.code}: ${e.message}\n`;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  count(x, e.spec.cache, e.status);
  res.end(x.req.method === 'HEAD' ? undefined : text);
}
