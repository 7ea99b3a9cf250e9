/**
 * One prepared 200 answer written to its socket in ONE write of one Buffer (status line, headers and body),
 * skipping ServerResponse's per-response header building (writeHead -> _storeHeader -> processHeader, header
 * validation, string concatenation) and its corked two-to-three-chunk writev (decision 016). Built for the
 * blocking-reload release, where one manifest event answers a thousand held reloads with the same bytes.
 *
 * The head is Node's own: for each prepared answer, once per second (the Date header) and per keep-alive
 * setting, a detached ServerResponse renders it with the same header list (writeHead), so the bytes on the wire
 * are what the normal path sends. What this module relies on are Node 20's ServerResponse internals, all of them
 * here and nowhere else: `_header` / `_headerSent` (headers sent), `finished` (ended), `_finish()` ('prefinish'),
 * 'finish' emitted from the socket write's callback unless `socket._hadError` (http's onFinish, which lets the
 * server move on to the connection's next request), the `kOutHeaders` symbol (headers set before by a hook), and
 * the keep-alive fields `shouldKeepAlive`, `_keepAliveTimeout`, `_defaultKeepAlive`, `_maxRequestsPerSocket`,
 * `maxRequestsOnConnectionReached`, `_removedConnection`. `rawAnswersAvailable` checks them once at startup on
 * a detached response; when anything differs, every answer takes the normal path (`trySendRaw` returns false).
 * test/unit/raw-answer.test.ts fails if Node changes them.
 *
 * Anything unusual takes the normal path too: HEAD, HTTP/1.0 or `Connection: close` (no keep-alive), the last
 * request a connection may carry, headers set before, a response not (yet) owning its socket (a pipelined
 * request behind an unfinished one), a socket not writable, a body over RAW_MAX_BODY (a large object is not
 * copied behind its head), `sendDate` off.
 */
import { type IncomingMessage, ServerResponse } from 'node:http';

/** Bodies up to this size are sent with their head in one Buffer (one copy per second per answer). */
export const RAW_MAX_BODY = 64 * 1024;

/** The internals relied on, as a type (never exported). */
interface Internals {
  _header: string | null;
  _headerSent: boolean;
  finished: boolean;
  _finish(): void;
  _hasBody: boolean;
  _contentLength: number | null;
  shouldKeepAlive: boolean;
  _keepAliveTimeout: number;
  _defaultKeepAlive: boolean;
  _maxRequestsPerSocket: number | undefined;
  maxRequestsOnConnectionReached: boolean;
  _removedConnection: boolean;
  chunkedEncoding: boolean;
  strictContentLength: boolean;
  sendDate: boolean;
  outputData: unknown[];
}

type Res = ServerResponse & Internals;
type Sock = NonNullable<ServerResponse['socket']> & { _httpMessage?: unknown; _hadError?: boolean };

/** Node's `kOutHeaders` (null until a header is set with setHeader), found by the self-check. */
let kOutHeaders: symbol | undefined;

const detachedReq = (): IncomingMessage =>
  ({ method: 'GET', url: '/', httpVersionMajor: 1, httpVersionMinor: 1, headers: {} }) as IncomingMessage;

/** Whether Node's internals are what this module expects (checked once, on a detached response). */
function selfCheck(): { ok: boolean; why?: string } {
  try {
    const res = new ServerResponse(detachedReq()) as Res;
    const sym = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders');
    if (!sym) return { ok: false, why: 'no kOutHeaders symbol' };
    const r = res as unknown as Record<string | symbol, unknown>;
    if (r[sym] !== null) return { ok: false, why: 'kOutHeaders not null on a new response' };
    const expect: Array<[string, unknown]> = [
      ['_header', null],
      ['_headerSent', false],
      ['finished', false],
      ['_hasBody', true],
      ['shouldKeepAlive', true],
      ['_removedConnection', false],
      ['chunkedEncoding', false],
      ['strictContentLength', false],
      ['sendDate', true],
      ['maxRequestsOnConnectionReached', false],
    ];
    for (const [k, v] of expect) if (r[k] !== v) return { ok: false, why: `${k} is ${String(r[k])}` };
    for (const k of ['_keepAliveTimeout', '_defaultKeepAlive', '_contentLength'])
      if (!(k in res)) return { ok: false, why: `no ${k}` };
    if (!Array.isArray(res.outputData)) return { ok: false, why: 'no outputData' };
    if (typeof res._finish !== 'function') return { ok: false, why: 'no _finish' };
    // The head as the normal path stores it, and headersSent derived from it.
    res._keepAliveTimeout = 5000;
    res._defaultKeepAlive = true;
    res.writeHead(200, ['Content-Length', '2', 'X-A', 'b']);
    const h = res._header;
    if (
      typeof h !== 'string' ||
      !h.startsWith('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\nDate: ') ||
      !h.endsWith('\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n') ||
      res._headerSent !== false ||
      res.headersSent !== true
    )
      return { ok: false, why: `unexpected head ${JSON.stringify(h)}` };
    const probe = new ServerResponse(detachedReq());
    probe.setHeader('X-B', 'c');
    if ((probe as unknown as Record<symbol, unknown>)[sym] === null)
      return { ok: false, why: 'kOutHeaders stays null after setHeader' };
    kOutHeaders = sym;
    return { ok: true };
  } catch (e) {
    return { ok: false, why: String(e) };
  }
}

const check = selfCheck();

/** True when this Node's internals passed the self-check (else every answer takes the normal path). */
export const rawAnswersAvailable: boolean = check.ok;
/** Why the self-check failed (undefined when it passed). */
export const rawAnswersUnavailableBecause: string | undefined = check.why;

/** One answer's complete bytes for one second and one keep-alive setting. */
interface Rendered {
  sec: number;
  /** The keep-alive settings it was rendered with (the same for every response of a server). */
  kaTimeout: number;
  kaDefault: boolean;
  kaMax: number | undefined;
  /** The head as Node renders it (latin1), kept as the response's `_header`. */
  head: string;
  /** head + body. */
  bytes: Buffer;
}

/** A prepared 200 answer whose raw bytes this module renders and keeps (one slot per answer). */
export interface RawSource {
  readonly body: Buffer;
  readonly ok: readonly string[];
}

const rendered = new WeakMap<RawSource, Rendered>();

function render(src: RawSource, res: Res, sec: number): Rendered {
  const d = new ServerResponse(detachedReq()) as Res;
  d._keepAliveTimeout = res._keepAliveTimeout;
  d._defaultKeepAlive = res._defaultKeepAlive;
  d._maxRequestsPerSocket = res._maxRequestsPerSocket;
  d.writeHead(200, src.ok as string[]);
  const head = d._header!;
  const r: Rendered = {
    sec,
    kaTimeout: res._keepAliveTimeout,
    kaDefault: res._defaultKeepAlive,
    kaMax: res._maxRequestsPerSocket,
    head,
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), src.body]),
  };
  rendered.set(src, r);
  return r;
}

/** http's onFinish: 'finish' once the bytes are written, unless the socket failed. */
function onWritten(this: Res): void {
  const s = this.socket as Sock | null;
  if (s && s._hadError) return;
  this.emit('finish');
}

/**
 * Sends `src` as a 200 in one socket write when this response can take the raw path (true); false when it
 * must take the normal one (then nothing was done to the response).
 */
export function trySendRaw(res: ServerResponse, method: string | undefined, src: RawSource): boolean {
  if (!rawAnswersAvailable || method === 'HEAD') return false;
  const r = res as Res;
  const s = r.socket as Sock | null;
  if (
    s === null ||
    s._httpMessage !== r ||
    !s.writable ||
    r._header !== null ||
    r.finished ||
    !r.shouldKeepAlive ||
    r.maxRequestsOnConnectionReached ||
    r._removedConnection ||
    !r.sendDate ||
    r.strictContentLength ||
    !r._hasBody ||
    r.outputData.length !== 0 ||
    (r as unknown as Record<symbol, unknown>)[kOutHeaders!] !== null ||
    src.body.length > RAW_MAX_BODY
  )
    return false;
  const sec = Math.floor(Date.now() / 1000);
  let a = rendered.get(src);
  if (
    !a ||
    a.sec !== sec ||
    a.kaTimeout !== r._keepAliveTimeout ||
    a.kaDefault !== r._defaultKeepAlive ||
    a.kaMax !== r._maxRequestsPerSocket
  )
    a = render(src, r, sec);
  r.statusCode = 200;
  r.statusMessage = 'OK';
  r._contentLength = src.body.length;
  r._header = a.head;
  r._headerSent = true;
  s.write(a.bytes, onWritten.bind(r));
  r.finished = true;
  r._finish();
  return true;
}
