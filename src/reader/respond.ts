/**
 * Writing answers: every response goes through here, with its cache class (http-policy.ts) and one count in
 * wellspring_http_requests_total. Options objects, not positional lists.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';
import type { ReaderError } from './errors.js';
import { type ObjectClass, cacheControl } from './http-policy.js';

/** One request and what answering it needs. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  metrics: Metrics;
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

function count(x: Exchange, cls: ObjectClass, status: number): void {
  x.metrics.httpRequests.inc({ class: cls, status });
}

/** A complete body (omitted on HEAD, with the Content-Length it would have). */
export function send(x: Exchange, o: BodyAnswer): void {
  const status = o.status ?? 200;
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  x.res.statusCode = status;
  x.res.setHeader('Content-Type', o.type);
  x.res.setHeader('Cache-Control', cacheControl(o.cls, o.targetSec));
  x.res.setHeader('Content-Length', body.length);
  count(x, o.cls, status);
  x.res.end(x.req.method === 'HEAD' ? undefined : body);
}

/** 204 / 304: headers only. */
export function sendEmpty(x: Exchange, o: EmptyAnswer): void {
  x.res.statusCode = o.status;
  x.res.setHeader('Cache-Control', cacheControl(o.cls, o.targetSec));
  count(x, o.cls, o.status);
  x.res.end();
}

/** Starts a body of unknown length (chunked): the caller writes and ends it. */
export function startStream(x: Exchange, o: { cls: ObjectClass; type: string }): void {
  x.res.writeHead(200, { 'Content-Type': o.type, 'Cache-Control': cacheControl(o.cls) });
  x.res.flushHeaders();
  count(x, o.cls, 200);
}

/** An error from the catalogue: its status, cache class, Retry-After and a one-line text body "CODE: message". */
export function sendError(x: Exchange, e: ReaderError): void {
  const { res } = x;
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
