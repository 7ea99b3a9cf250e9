/**
 * The raw answer path (src/reader/raw-answer.ts) relies on Node's ServerResponse internals: these tests fail if
 * Node changes them (the self-check, the bytes on the wire against the normal path, keep-alive and pipelining,
 * 'finish' / 'close'), and show which requests take the normal path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  rawAnswersAvailable,
  rawAnswersUnavailableBecause,
  trySendRaw,
} from '../../src/reader/raw-answer.js';

const body = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:2\n'.repeat(20));
const ok = [
  'Access-Control-Allow-Origin',
  '*',
  'Content-Type',
  'application/vnd.apple.mpegurl',
  'Cache-Control',
  'public, max-age=1',
  'ETag',
  '"v1"',
  'Content-Length',
  String(body.length),
];
const src = { body, ok };

interface Seen {
  url: string;
  raw: boolean;
  events: string[];
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server answering /raw... with trySendRaw (normal path when refused) and /normal... with writeHead + end. */
async function start(o: { maxRequestsPerSocket?: number; hook?: boolean } = {}): Promise<{
  port: number;
  seen: Seen[];
}> {
  const seen: Seen[] = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const s: Seen = { url: req.url!, raw: false, events: [] };
    seen.push(s);
    for (const ev of ['prefinish', 'finish', 'close']) res.on(ev, () => s.events.push(ev));
    if (o.hook) res.setHeader('X-Hook', 'yes');
    if (req.url!.startsWith('/raw')) s.raw = trySendRaw(res, req.method, src);
    if (!s.raw) {
      res.writeHead(200, ok);
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
  if (o.maxRequestsPerSocket) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { port: typeof a === 'object' && a ? a.port : 0, seen };
}

/**
 * Writes `text` on one connection and reads until `responses` complete responses arrived (or it closed); each
 * of `then` is written once one more response has arrived (keep-alive, not pipelined).
 */
function exchange(port: number, text: string, responses: number, then: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const complete = (): number => {
      let n = 0;
      let at = 0;
      for (;;) {
        const h = got.indexOf('\r\n\r\n', at);
        if (h < 0) return n;
        const head = got.slice(at, h);
        const len = /content-length: (\d+)/i.exec(head);
        const isHead = /^HTTP\/1\.1 \d+/.test(head) && text.includes('HEAD ');
        const end = h + 4 + (len && !isHead ? Number(len[1]) : 0);
        if (got.length < end) return n;
        n++;
        at = end;
      }
    };
    sock.setEncoding('latin1');
    let next = 0;
    sock.on('data', (d: string) => {
      got += d;
      const n = complete();
      while (next < then.length && next < n) sock.write(then[next++]!);
      if (n >= responses) {
        sock.end();
        resolve(got);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write(text);
  });
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const noDate = (s: string): string => s.replace(/Date: [^\r]+\r\n/g, 'Date: -\r\n');

/** Waits until every response seen has fired 'close' (the server's own cleanup after 'finish'). */
async function closed(seen: Seen[], n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (seen.length >= n && seen.every((s) => s.events.includes('close'))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('raw answers', () => {
  it('passes its self-check on this Node (if this fails, Node changed the internals it relies on)', () => {
    expect(rawAnswersUnavailableBecause).toBeUndefined();
    expect(rawAnswersAvailable).toBe(true);
  });

  it('writes the same bytes as writeHead + end, and the connection serves the next requests', async () => {
    const { port, seen } = await start();
    const normal = await exchange(port, get('/normal'), 1);
    // Keep-alive: each request sent once the previous answer arrived.
    const raw = await exchange(port, get('/raw1'), 3, [get('/raw2'), get('/normal2')]);
    // Pipelined: the requests behind /raw3 arrive while its response still owns the socket (normal path, queued).
    const piped = await exchange(port, get('/raw3') + get('/raw4') + get('/normal3'), 3);
    await closed(seen, 7);
    expect(seen.map((s) => [s.url, s.raw])).toEqual([
      ['/normal', false],
      ['/raw1', true],
      ['/raw2', true],
      ['/normal2', false],
      ['/raw3', true],
      ['/raw4', false],
      ['/normal3', false],
    ]);
    const one = noDate(normal);
    expect(one).toContain('Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n');
    expect(noDate(raw)).toBe(one + one + one);
    expect(noDate(piped)).toBe(one + one + one);
    for (const s of seen) expect(s.events).toEqual(['prefinish', 'finish', 'close']);
  });

  it('matches the normal head when the server limits requests per connection, and the last one closes', async () => {
    const { port, seen } = await start({ maxRequestsPerSocket: 2 });
    const normal = await exchange(port, get('/normal'), 1);
    const raw = await exchange(port, get('/raw1'), 2, [get('/raw2')]);
    await closed(seen, 3);
    expect(normal).toContain('Keep-Alive: timeout=5, max=2\r\n');
    // The second request on a connection limited to two takes the normal path (Connection: close).
    expect(seen.map((s) => s.raw)).toEqual([false, true, false]);
    const [first, second] = noDate(raw).split('HTTP/1.1 ').filter(Boolean);
    expect('HTTP/1.1 ' + first).toBe(noDate(normal));
    expect(second).toContain('Connection: close\r\n');
  });

  it('leaves HEAD, HTTP/1.0, Connection: close and hook headers to the normal path', async () => {
    let { port, seen } = await start();
    const head = await exchange(port, `HEAD /raw HTTP/1.1\r\nHost: x\r\n\r\n`, 1);
    const close = await exchange(port, get('/raw', 'Connection: close\r\n'), 1);
    const http10 = await exchange(port, `GET /raw HTTP/1.0\r\n\r\n`, 1);
    await closed(seen, 3);
    expect(seen.map((s) => s.raw)).toEqual([false, false, false]);
    expect(head).toContain(`Content-Length: ${body.length}\r\n`);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    expect(close).toContain('Connection: close\r\n');
    expect(http10.endsWith(body.toString('latin1'))).toBe(true);
    await new Promise<void>((r) => server!.close(() => r()));
    ({ port, seen } = await start({ hook: true }));
    const hooked = await exchange(port, get('/raw'), 1);
    expect(seen[0]!.raw).toBe(false);
    expect(hooked).toContain('X-Hook: yes\r\n');
  });
});
