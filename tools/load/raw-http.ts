/**
 * A lean HTTP/1.1 keep-alive GET client for the load clients (tools/load/clients.ts, `http: 'raw'`): one
 * `net.Socket` per connection, one request in flight per connection (no pipelining, as browsers), the answer's
 * head parsed by hand (status line, Content-Length, chunked transfer coding, Connection: close), the body counted
 * and kept only when asked. It exists because node:http's client machinery (ClientRequest, IncomingMessage, the
 * agent's queues) cost the load clients most of a core at 1,000 + 1,000 clients on this 2-core machine, so they
 * fell behind the live edge they were meant to sit at.
 *
 * Same contract as clients.ts's node:http getOnce: resolves on the last byte; status 0 on a connection error or
 * timeout; `staleSocket` when a reused keep-alive connection failed before any byte of an answer (the keep-alive
 * race, which a browser resends unseen); the same failure words (ECONNRESET for a connection closed under a
 * request, `body ...` once the answer had begun). One difference: the timeout is a deadline for the whole request
 * from its send, where node:http's is the socket's idle time; at the load clients' 10-15 s limits, with blocking
 * reloads held at most three target durations, only a starved client trickling a body past them would differ.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  body: Buffer;
  bytes: number;
  doneAt: number;
  why?: string;
  staleSocket: boolean;
  /** For the first request on a new connection: sent (before the handshake) -> first byte of the answer, ms. */
  newConnectionFirstByteMs?: number;
  /** For the first request on a new connection, answered or failed: when it was sent (wall clock, ms). */
  newConnectionSentAt?: number;
}

const EMPTY = Buffer.alloc(0);
const now = (): number => performance.timeOrigin + performance.now();
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Bytes of an error answer's body kept when the caller did not ask for bodies (enough for its first line). */
export const ERROR_BODY_MAX = 512;

interface Pending {
  head: string;
  timeoutMs: number;
  keepBody: boolean;
  resolve: (a: RawAnswer) => void;
}

/** Parses one answer's bytes as they arrive; `complete` when the message is (exported for its unit test). */
export class AnswerParser {
  status = 0;
  why = '';
  close = false;
  bytes = 0;
  private head?: Buffer;
  headDone = false;
  /** Content-Length; -1 until known; Infinity: the body runs to the connection's close. */
  length = -1;
  private chunked = false;
  private chunkLeft = 0;
  /** Chunked: bytes of a size line or trailer not yet complete. */
  private pending: Buffer = EMPTY;
  private chunkState: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  complete = false;
  readonly chunks: Buffer[] = [];

  constructor(private readonly keepBody: boolean) {}

  /** Feeds bytes; returns the bytes past the end of this answer (another answer's: none without pipelining). */
  push(d: Buffer): Buffer {
    if (!this.headDone) {
      const buf = this.head ? Buffer.concat([this.head, d]) : d;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (buf.length > 64 * 1024) throw new Error('head too large');
        this.head = buf;
        return EMPTY;
      }
      this.readHead(buf.subarray(0, end).toString('latin1'));
      d = buf.subarray(end + 4);
      if (this.status >= 100 && this.status < 200) {
        // An interim answer (103 Early Hints...): the real one follows on the same connection.
        this.head = undefined;
        this.length = -1;
        this.chunked = false;
        this.close = false;
        return d.length > 0 ? this.push(d) : EMPTY;
      }
      this.headDone = true;
      if (this.length === 0 && !this.chunked) {
        this.complete = true;
        return d;
      }
    }
    return this.chunked ? this.pushChunked(d) : this.pushLength(d);
  }

  private readHead(h: string): void {
    const lines = h.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0]?.slice(0, 40))}`);
    this.status = Number(m[1]);
    this.why = m[2] ?? '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const c = line.indexOf(':');
      if (c < 0) continue;
      const name = line.slice(0, c).trim().toLowerCase();
      const value = line.slice(c + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) throw new Error(`bad content-length ${JSON.stringify(value.slice(0, 20))}`);
        this.length = Number(value);
      } else if (name === 'transfer-encoding' && /chunked/i.test(value)) this.chunked = true;
      else if (name === 'connection' && /close/i.test(value)) this.close = true;
    }
    if ((this.status >= 100 && this.status < 200) || this.status === 204 || this.status === 304) {
      // No body, whatever the headers say (RFC 9112 6.3).
      if (this.status >= 200) this.length = 0;
      this.chunked = false;
    } else if (!this.chunked && this.length < 0) {
      // Neither: the body runs to the connection's close (not sent by the servers measured here).
      this.close = true;
      this.length = Number.POSITIVE_INFINITY;
    }
  }

  private body(d: Buffer): void {
    const before = this.bytes;
    this.bytes += d.length;
    if (this.keepBody) this.chunks.push(d);
    // An error's body is kept too, its first ERROR_BODY_MAX bytes (they name the cause: the reader's error code).
    else if (this.status >= 400 && before < ERROR_BODY_MAX)
      this.chunks.push(d.subarray(0, ERROR_BODY_MAX - before));
  }

  private pushLength(d: Buffer): Buffer {
    const want = this.length - this.bytes;
    if (d.length < want) {
      this.body(d);
      return EMPTY;
    }
    this.body(d.subarray(0, want));
    this.complete = true;
    return d.subarray(want);
  }

  private pushChunked(d: Buffer): Buffer {
    let i = 0;
    while (i < d.length && !this.complete) {
      if (this.chunkState === 'data') {
        const n = Math.min(this.chunkLeft, d.length - i);
        this.body(d.subarray(i, i + n));
        this.chunkLeft -= n;
        i += n;
        if (this.chunkLeft === 0) this.chunkState = 'data-crlf';
        continue;
      }
      // A line: a chunk's size, the CRLF after its data, or a trailer line (empty: the end).
      const nl = d.indexOf(10, i);
      if (nl < 0) {
        this.pending = Buffer.concat([this.pending, d.subarray(i)]);
        return EMPTY;
      }
      const line = Buffer.concat([this.pending, d.subarray(i, nl + 1)])
        .toString('latin1')
        .trim();
      this.pending = EMPTY;
      i = nl + 1;
      if (this.chunkState === 'data-crlf') this.chunkState = 'size';
      else if (this.chunkState === 'size') {
        const size = parseInt(line.split(';')[0]!, 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size');
        if (size === 0) this.chunkState = 'trailer';
        else {
          this.chunkLeft = size;
          this.chunkState = 'data';
        }
      } else if (line === '') this.complete = true;
    }
    return d.subarray(i);
  }
}

/** One keep-alive connection carrying one request at a time. */
class Conn {
  readonly socket: Socket;
  /** Answers completed on this connection (a reused one is past its first). */
  answered = 0;
  dead = false;
  /**
   * When the client saw the handshake complete (the server's SYN-ACK). The server's kernel holds the connection
   * then unless its accept queue was full (it drops the client's last ACK, counted as a listen overflow): with no
   * overflow counted, the connection waited in the server, not on the network.
   */
  private connectedAt?: number;
  private readonly openedAt = now();
  private cur?: {
    p: Pending;
    parser: AnswerParser;
    timer: NodeJS.Timeout;
    sentAt: number;
    /** When the answer's first byte came (undefined: no byte yet). */
    firstByteAt?: number;
  };

  constructor(
    host: string,
    port: number,
    private readonly onFree: (c: Conn) => void,
    /** `idle`: the server (or the network) ended it with no request out, not this client. */
    private readonly onDead: (c: Conn, idle: boolean) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('connect', () => (this.connectedAt = now()));
    this.socket.on('data', (d: Buffer) => this.data(d));
    this.socket.on('error', (err: Error & { code?: string }) =>
      this.fail(err.code ?? err.message.slice(0, 40)),
    );
    // The server's FIN (as node:http's "socket hang up", an ECONNRESET) or the socket gone.
    this.socket.on('end', () => this.fail('ECONNRESET'));
    this.socket.on('close', () => this.fail('ECONNRESET'));
  }

  send(p: Pending): void {
    const timer = setTimeout(() => {
      this.fail('timeout');
      this.socket.destroy();
    }, p.timeoutMs);
    this.cur = { p, parser: new AnswerParser(p.keepBody), timer, sentAt: now() };
    this.socket.write(p.head);
  }

  /** Out of use: no further request goes on this connection. */
  private retire(): void {
    this.socket.destroy();
    if (this.dead) return;
    this.dead = true;
    this.onDead(this, false);
  }

  private data(d: Buffer): void {
    const c = this.cur;
    if (!c) {
      // Bytes with no request out: the server broke the protocol; drop the connection.
      this.retire();
      return;
    }
    c.firstByteAt ??= now();
    let rest: Buffer;
    try {
      rest = c.parser.push(d);
    } catch (err) {
      this.fail(`parse ${(err as Error).message}`);
      this.retire();
      return;
    }
    if (!c.parser.complete) return;
    clearTimeout(c.timer);
    this.cur = undefined;
    const first = this.answered === 0;
    this.answered++;
    const a = this.answer(c.parser, c.p.keepBody);
    if (first) {
      a.newConnectionFirstByteMs = c.firstByteAt! - c.sentAt;
      a.newConnectionSentAt = c.sentAt;
    }
    c.p.resolve(a);
    // Bytes past the answer (none without pipelining) or the server's close: not reused.
    if (c.parser.close || rest.length > 0) this.retire();
    else this.onFree(this);
  }

  /** For a request that timed out on a new connection: whether its handshake completed, and in how long. */
  private handshake(): string {
    if (this.connectedAt === undefined) return ', no handshake';
    const ms = this.connectedAt - this.openedAt;
    return `, handshake ${ms < 1000 ? '< 1 s' : ms < 3000 ? '1-3 s' : '> 3 s'}`;
  }

  private answer(parser: AnswerParser, keepBody: boolean): RawAnswer {
    return {
      status: parser.status,
      body: keepBody || parser.status >= 400 ? Buffer.concat(parser.chunks) : EMPTY,
      bytes: parser.bytes,
      doneAt: now(),
      why: parser.why,
      staleSocket: false,
    };
  }

  private fail(code: string): void {
    const c = this.cur;
    this.cur = undefined;
    if (!this.dead) {
      this.dead = true;
      this.onDead(this, !c);
    }
    if (!c) return;
    clearTimeout(c.timer);
    const newConnectionSentAt = this.answered === 0 ? c.sentAt : undefined;
    // A body delimited by the connection's close ends here, complete.
    if (code === 'ECONNRESET' && c.parser.headDone && c.parser.length === Number.POSITIVE_INFINITY) {
      this.answered++;
      c.p.resolve({ ...this.answer(c.parser, c.p.keepBody), newConnectionSentAt });
      return;
    }
    const stale =
      this.answered > 0 &&
      c.firstByteAt === undefined &&
      ['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(code);
    c.p.resolve({
      status: 0,
      body: EMPTY,
      bytes: 0,
      doneAt: now(),
      why:
        c.firstByteAt !== undefined
          ? `body ${code}`
          : this.answered > 0
            ? `${code} reused socket`
            : `${code} new socket${code === 'timeout' ? this.handshake() : ''}`,
      staleSocket: stale,
      newConnectionSentAt,
    });
  }
}

/** Up to `max` keep-alive connections to one host:port; requests beyond them wait in order. */
export class RawPool {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly queue: Pending[] = [];
  private destroyed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly max: number,
    /**
     * Where to record when a connection of this pool ended while idle, closed by the server (e.g. its keep-alive
     * timeout) rather than by this client (wall clock, ms since the epoch); several pools may share one list.
     */
    readonly idleClosedAt: number[] = [],
  ) {}

  /** GET `path` (with its query); resolves on the answer's last byte or its failure. */
  get(path: string, timeoutMs: number, keepBody: boolean): Promise<RawAnswer> {
    return new Promise((resolve) => {
      const head = `GET ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nConnection: keep-alive\r\n\r\n`;
      this.queue.push({ head, timeoutMs, keepBody, resolve });
      this.pump();
    });
  }

  private pump(): void {
    if (this.destroyed) {
      for (const p of this.queue.splice(0))
        p.resolve({
          status: 0,
          body: EMPTY,
          bytes: 0,
          doneAt: now(),
          why: 'pool destroyed',
          staleSocket: false,
        });
      return;
    }
    while (this.queue.length > 0) {
      let c = this.idle.pop();
      while (c && c.dead) c = this.idle.pop();
      if (!c) {
        if (this.all.size >= this.max) return;
        c = new Conn(
          this.host,
          this.port,
          (free) => {
            this.idle.push(free);
            this.pump();
          },
          (dead, idle) => {
            if (idle && !this.destroyed) this.idleClosedAt.push(now());
            this.all.delete(dead);
            this.pump();
          },
        );
        this.all.add(c);
      }
      c.send(this.queue.shift()!);
    }
  }

  /** Closes every connection; requests still queued resolve as failed ('pool destroyed'). */
  destroy(): void {
    this.destroyed = true;
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
    this.pump();
  }
}
