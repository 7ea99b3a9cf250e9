/**
 * Every error the reader answers with, in one catalogue (fastify's model): a stable code, the HTTP status, the
 * message, and how a CDN may cache it. Handlers throw `new ReaderError(code, detail?)`; anything else thrown is
 * classified once, in `toReaderError`: the store being unavailable is a quick 503 with Retry-After, anything
 * else is a 500 (a bug, logged with its stack). docs/errors.md documents each code (a test holds them equal).
 */
import { isStoreUnavailable } from '../store/errors.js';
import type { ObjectClass } from './http-policy.js';

interface ErrorSpec {
  status: number;
  message: string;
  /** Cache class of the answer (http-policy.ts). */
  cache: ObjectClass;
  /** Retry-After, seconds. */
  retryAfter?: number;
}

export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'bad request', cache: 'no-store' },
  BAD_DIRECTIVE: { status: 400, message: 'invalid LL-HLS delivery directive', cache: 'no-store' },
  MSN_TOO_FAR_AHEAD: {
    status: 400,
    message: '_HLS_msn is more than two segments ahead of the playlist',
    cache: 'no-store',
  },
  // Time-shift URLs (issue #11): the detail names the DVR window in ISO times.
  TIME_SHIFT_INVALID: {
    status: 400,
    message: 'start and end must be ISO 8601 date-times, start before end',
    cache: 'no-store',
  },
  TIME_SHIFT_OUTSIDE_WINDOW: {
    status: 400,
    message: 'the time-shift range is outside the DVR window',
    cache: 'no-store',
  },
  // Access (issue #12): never the token or the secret in the body, and no stream name beyond the URL's.
  CDN_SECRET: { status: 403, message: 'requests must come through the CDN', cache: 'no-store' },
  TOKEN_MISSING: { status: 403, message: 'this stream needs a signed URL', cache: 'no-store' },
  TOKEN_MALFORMED: { status: 403, message: 'the token is not a playback token', cache: 'no-store' },
  TOKEN_EXPIRED: { status: 403, message: 'the token has expired', cache: 'no-store' },
  TOKEN_UNKNOWN_KEY: { status: 403, message: 'the token names an unknown key', cache: 'no-store' },
  TOKEN_BAD_SIGNATURE: {
    status: 403,
    message: 'the token is not valid for this stream or address',
    cache: 'no-store',
  },
  TOKEN_WRONG_STREAM: {
    status: 403,
    message: 'the token is for another stream or action',
    cache: 'no-store',
  },
  UNAUTHORIZED: { status: 401, message: 'a valid API bearer token is required', cache: 'no-store' },
  FORBIDDEN: { status: 403, message: 'this token may not do that (admin scope needed)', cache: 'no-store' },
  STREAM_DISABLED: { status: 403, message: 'this stream is disabled', cache: 'not-found' },
  NOT_FOUND: { status: 404, message: 'not found', cache: 'not-found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed', cache: 'no-store' },
  NO_PUBLISHER: { status: 409, message: 'the stream has no live publisher', cache: 'no-store' },
  ASSET_EXISTS: {
    status: 409,
    message: 'a VOD asset of that name exists (assets are immutable)',
    cache: 'no-store',
  },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'range not satisfiable', cache: 'no-store' },
  INTERNAL: { status: 500, message: 'internal error', cache: 'no-store' },
  BLOCKING_TIMEOUT: {
    status: 503,
    message: 'playlist did not reach the requested part in time',
    cache: 'no-store',
    retryAfter: 1,
  },
  SEGMENT_INCOMPLETE: {
    status: 503,
    message: 'a part of the segment being streamed is missing',
    cache: 'no-store',
    retryAfter: 1,
  },
  STORE_UNAVAILABLE: { status: 503, message: 'origin storage unavailable', cache: 'no-store', retryAfter: 1 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class ReaderError extends Error {
  readonly spec: ErrorSpec;
  constructor(
    readonly code: ErrorCode,
    /** Replaces the catalogue's message in the body (e.g. which directive is wrong). */
    readonly detail?: string,
    /** Extra response headers (e.g. Content-Range on a 416). */
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(detail ?? ERRORS[code].message, options);
    this.name = 'ReaderError';
    this.spec = ERRORS[code];
  }

  get status(): number {
    return this.spec.status;
  }
}

/** Classifies anything thrown while serving: a ReaderError as is, the store's outages as 503, the rest as 500. */
export function toReaderError(err: unknown): ReaderError {
  if (err instanceof ReaderError) return err;
  if (isStoreUnavailable(err)) return new ReaderError('STORE_UNAVAILABLE', undefined, {}, { cause: err });
  return new ReaderError('INTERNAL', undefined, {}, { cause: err });
}
