/**
 * The load clients' lean HTTP client (tools/load/raw-http.ts) against a real node:http server on loopback: the
 * answers it reads must be what the server sent, whatever the framing, and its failures classified as the
 * node:http client's are (status 0, stale keep-alive socket, timeout).
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerParser, ERROR_BODY_MAX, RawPool } from '../../tools/load/raw-http.js';
import { failureCause, mergeCounts } from '../../tools/load/clients.js';

let server: Server;
let port: number;
const connections = new Set<import('node:net').Socket>();
/** Connections the server has accepted so far (a test counts its own by the difference). */
let accepted = 0;
const big = Buffer.alloc(300_000, 7);

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/length') {
      res.writeHead(200, { 'Content-Length': '5' });
      res.end('hello');
    } else if (u.pathname === '/big') {
      res.writeHead(200, { 'Content-Length': String(big.length) });
      res.end(big);
    } else if (u.pathname === '/chunked') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('ab');
      setTimeout(() => {
        res.write('cde;x');
        res.end('fg');
      }, 5);
    } else if (u.pathname === '/empty404') {
      res.writeHead(404, 'Not Found', { 'Content-Length': '0' });
      res.end();
    } else if (u.pathname === '/busy') {
      // As Wellspring's reader answers an error: the code first in a small text body.
      const text = 'BLOCKING_TIMEOUT: playlist did not reach the requested part in time\n';
      res.writeHead(503, 'Service Unavailable', {
        'Content-Length': String(text.length),
        'Retry-After': '1',
      });
      res.end(text);
    } else if (u.pathname === '/bigerror') {
      const text = `STORE_UNAVAILABLE: ${'x'.repeat(3000)}\n`;
      res.writeHead(503, { 'Content-Length': String(text.length) });
      res.end(text);
    } else if (u.pathname === '/close') {
      res.writeHead(200, { 'Content-Length': '2', Connection: 'close' });
      res.end('ok');
    } else if (u.pathname === '/slow') {
      setTimeout(() => res.end('late'), 1000);
    } else {
      res.writeHead(200, { 'Content-Length': String(u.search.length) });
      res.end(u.search);
    }
  });
  server.on('connection', (s) => {
    accepted++;
    connections.add(s);
    s.on('close', () => connections.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of connections) s.destroy();
  await new Promise((r) => server.close(r));
});

/** Lets the sockets' 'close' events (emitted on a later tick than destroy()) reach the pool. */
const closesDelivered = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

describe('RawPool (load clients)', () => {
  it('reads Content-Length, chunked and empty answers byte for byte, on kept-alive connections', async () => {
    const from = accepted;
    const pool = new RawPool('127.0.0.1', port, 1);
    const before = performance.timeOrigin + performance.now();
    const a = await pool.get('/length', 2000, true);
    expect([a.status, a.body.toString(), a.bytes, a.staleSocket]).toEqual([200, 'hello', 5, false]);
    const b = await pool.get('/chunked', 2000, true);
    expect([b.status, b.body.toString(), b.bytes]).toEqual([200, 'abcde;xfg', 9]);
    const c = await pool.get('/empty404', 2000, true);
    expect([c.status, c.why, c.bytes]).toEqual([404, 'Not Found', 0]);
    const d = await pool.get('/big', 2000, false);
    expect([d.status, d.bytes, d.body.length]).toEqual([200, big.length, 0]);
    const e = await pool.get('/q?_HLS_msn=3&_HLS_part=1', 2000, true);
    expect(e.body.toString()).toBe('?_HLS_msn=3&_HLS_part=1');
    // One connection carried all five; only the first answer is timed as a new connection's.
    expect(accepted - from).toBe(1);
    expect(a.newConnectionFirstByteMs).toBeGreaterThanOrEqual(0);
    expect([b, c, d, e].map((x) => x.newConnectionFirstByteMs)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    // When the new connection's first request went out, on the wall clock bench:load bins it by.
    expect(a.newConnectionSentAt).toBeGreaterThanOrEqual(before);
    expect(a.newConnectionSentAt).toBeLessThanOrEqual(a.doneAt);
    expect([b, c, d, e].map((x) => x.newConnectionSentAt)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    pool.destroy();
  });

  it("keeps an error's body when media bodies are not kept, so a failure is counted by the reader's code", async () => {
    const pool = new RawPool('127.0.0.1', port, 1);
    const a = await pool.get('/busy', 2000, false);
    expect([a.status, a.why]).toEqual([503, 'Service Unavailable']);
    expect(failureCause(a.status, a.why, a.body)).toBe('503 BLOCKING_TIMEOUT');
    const b = await pool.get('/big', 2000, false);
    expect(b.body.length).toBe(0);
    const c = await pool.get('/empty404', 2000, false);
    expect(failureCause(c.status, c.why, c.body)).toBe('404 Not Found');
    // A long error body: its first ERROR_BODY_MAX bytes are kept, so the code is still read.
    const d = await pool.get('/bigerror', 2000, false);
    expect([d.status, d.bytes, d.body.length]).toEqual([503, 3020, ERROR_BODY_MAX]);
    expect(failureCause(d.status, d.why, d.body)).toBe('503 STORE_UNAVAILABLE');
    expect(failureCause(0, 'ECONNRESET new socket', Buffer.alloc(0))).toBe('ECONNRESET new socket');
    pool.destroy();
  });

  it('keeps at most max connections and answers queued requests in order', async () => {
    const from = accepted;
    const pool = new RawPool('127.0.0.1', port, 2);
    const got = await Promise.all(Array.from({ length: 9 }, (_, i) => pool.get(`/q?${i}`, 2000, true)));
    expect(got.map((g) => g.body.toString())).toEqual(Array.from({ length: 9 }, (_, i) => `?${i}`));
    expect(accepted - from).toBe(2);
    pool.destroy();
  });

  it('Connection: close ends the connection; the next request opens a new one', async () => {
    const pool = new RawPool('127.0.0.1', port, 1);
    expect((await pool.get('/close', 2000, true)).body.toString()).toBe('ok');
    const next = await pool.get('/length', 2000, true);
    expect([next.status, next.staleSocket]).toEqual([200, false]);
    pool.destroy();
    await closesDelivered();
    // Closed as the answer said, and by the client at the end: not counted as closed idle by the server.
    expect(pool.idleClosedAt).toEqual([]);
  });

  it('records when the server closes an idle kept-alive connection, into a list pools may share', async () => {
    const shared: number[] = [];
    const pool = new RawPool('127.0.0.1', port, 1, shared);
    const from = accepted;
    expect((await pool.get('/length', 2000, true)).status).toBe(200);
    const before = performance.timeOrigin + performance.now();
    for (const c of connections) c.destroy(); // as a keep-alive timeout ends it, with no request out
    for (let i = 0; shared.length === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    expect(shared).toHaveLength(1);
    expect(shared[0]).toBeGreaterThanOrEqual(before);
    const next = await pool.get('/length', 2000, true);
    expect([next.status, next.staleSocket, next.newConnectionSentAt !== undefined]).toEqual([
      200,
      false,
      true,
    ]);
    expect(accepted - from).toBe(2);
    pool.destroy();
    await closesDelivered();
    expect(shared).toHaveLength(1);
    // A request the client gives up on (its timeout) ends its connection on the client's side: not counted.
    const timing = new RawPool('127.0.0.1', port, 1, shared);
    expect((await timing.get('/slow', 100, true)).why).toMatch(/^timeout/);
    await closesDelivered();
    expect(shared).toHaveLength(1);
    timing.destroy();
  });

  it('a reused connection the server drops before answering is a stale socket; a fresh one that fails is not', async () => {
    // A server that answers the first request on each connection and drops the connection at the second.
    const dropper = createNetServer((sock) => {
      let n = 0;
      sock.on('data', () => {
        if (++n === 1) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else sock.destroy();
      });
    });
    await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
    const dport = (dropper.address() as AddressInfo).port;
    const pool = new RawPool('127.0.0.1', dport, 1);
    expect((await pool.get('/a', 2000, true)).body.toString()).toBe('ok');
    const stale = await pool.get('/b', 2000, true);
    expect([stale.status, stale.staleSocket]).toEqual([0, true]);
    expect(stale.why).toMatch(/reused socket$/);
    expect(stale.newConnectionSentAt).toBeUndefined();
    // The next request gets a new connection (answered: the server's first on it).
    expect((await pool.get('/c', 2000, true)).status).toBe(200);
    pool.destroy();
    // A refused connection is a failure on a new socket, never stale.
    await new Promise((r) => dropper.close(r));
    const refused = await new RawPool('127.0.0.1', dport, 1).get('/d', 2000, true);
    expect([refused.status, refused.staleSocket]).toEqual([0, false]);
    expect(refused.why).toMatch(/^ECONNREFUSED new socket$/);
    // A new connection that failed still counts as one opened (bench:load's newConnectionsPer5s).
    expect(refused.newConnectionSentAt).toBeLessThanOrEqual(refused.doneAt);
  });

  it('times out with status 0, not stale', async () => {
    const pool = new RawPool('127.0.0.1', port, 1);
    const t = await pool.get('/slow', 200, true);
    expect([t.status, t.staleSocket]).toEqual([0, false]);
    // The server's kernel completed the handshake: the request waited on the server, not on the connection.
    expect(t.why).toBe('timeout new socket, handshake < 1 s');
    expect(t.doneAt - t.newConnectionSentAt!).toBeGreaterThanOrEqual(190);
    pool.destroy();
  });

  it('the parser reads the same answer whatever byte it is split at (head, chunk sizes, trailers)', () => {
    const answers: Array<{ wire: string; status: number; body: string; close?: boolean }> = [
      { wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', status: 200, body: 'hello' },
      {
        wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n',
        status: 200,
        body: 'ab0123456789',
      },
      {
        wire: 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno',
        status: 404,
        body: 'no',
      },
      { wire: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n', status: 304, body: '' },
      {
        wire: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
        status: 200,
        body: 'ok',
        close: true,
      },
    ];
    for (const a of answers) {
      const wire = Buffer.from(a.wire, 'latin1');
      for (let cut = 0; cut <= wire.length; cut++)
        for (const pieces of [
          [wire.subarray(0, cut), wire.subarray(cut)],
          [...wire]
            .map((b) => Buffer.from([b]))
            .slice(0, cut)
            .concat([wire.subarray(cut)]),
        ]) {
          const p = new AnswerParser(true);
          let rest: Buffer = Buffer.alloc(0);
          for (const piece of pieces) if (piece.length) rest = p.push(piece);
          const got = {
            complete: p.complete,
            status: p.status,
            body: Buffer.concat(p.chunks).toString(),
            rest: rest.length,
          };
          expect(got, `${a.wire.slice(0, 30)} cut at ${cut}`).toEqual({
            complete: true,
            status: a.status,
            body: a.body,
            rest: 0,
          });
          expect(p.close).toBe(a.close ?? false);
        }
    }
  });

  it('the parser hands back bytes past the answer and refuses a malformed Content-Length', () => {
    const p = new AnswerParser(false);
    const rest = p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA'));
    expect([p.complete, p.bytes, rest.toString()]).toEqual([true, 1, 'EXTRA']);
    expect(() =>
      new AnswerParser(false).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n')),
    ).toThrow(/bad content-length/);
  });
});

describe('mergeCounts', () => {
  it('adds the per-kind counts of several client processes', () => {
    expect(
      mergeCounts([
        { part: { '200': 5, '0': 1 }, playlist: { '200': 2 } },
        { part: { '200': 3 }, segment: { '503': 1 } },
        {},
      ]),
    ).toEqual({ part: { '200': 8, '0': 1 }, playlist: { '200': 2 }, segment: { '503': 1 } });
  });
});
