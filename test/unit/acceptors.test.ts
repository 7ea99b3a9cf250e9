/**
 * Extra acceptors on one listening socket (decision 025): real sockets on loopback, the clients in a child
 * process so that their connections wait in the kernel's queue while this process's event loop is held.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { addAcceptors } from '../../src/reader/acceptors.js';
import { createMetrics } from '../../src/metrics.js';
import { createReader } from '../../src/reader/reader.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { freePort } from '../../tools/process/net.js';
import { captureLogger, waitFor } from '../support/harness.js';

/**
 * Opens `n` connections to `port`; with `send`, a GET on each. Writes `ready` once every handshake completed,
 * then (with `send`) exits 0 when every connection got a 200, 1 otherwise; without, it holds them until killed.
 */
const CLIENTS = `
const net = require('net'), fs = require('fs');
const [port, n, ready, send] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3], process.argv[4] === '1'];
let connected = 0, ok = 0;
for (let i = 0; i < n; i++) {
  const c = net.connect(port, '127.0.0.1', () => { if (++connected === n) fs.writeFileSync(ready, ''); });
  if (send) c.write('GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n');
  let got = '';
  c.on('data', (d) => { got += d; if (got.startsWith('HTTP/1.1 200') && ++ok === n) process.exit(0); });
  c.on('error', () => process.exit(1));
}
setTimeout(() => process.exit(send ? 1 : 0), 60000);
`;

let dir: string;
let server: Server | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ws-acceptors-'));
});

afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
  const s = server;
  server = undefined;
  if (s) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listening(): Promise<{ s: Server; port: number }> {
  const s = createServer((_req, res) => res.end('ok'));
  server = s;
  await new Promise<void>((r) => s.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, r));
  return { s, port: (s.address() as AddressInfo).port };
}

/**
 * Starts the clients, holds this event loop until all their handshakes completed (the connections then wait in
 * the kernel's queue), and returns how many connections the server took in per later turn of the loop.
 */
async function burst(s: Server, port: number, n: number, send: boolean) {
  const ready = join(dir, `ready-${port}`);
  const child = spawn(process.execPath, ['-e', CLIENTS, String(port), String(n), ready, send ? '1' : '0'], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const until = Date.now() + 20_000;
  while (!existsSync(ready) && Date.now() < until); // the loop held: nothing is accepted meanwhile
  expect(existsSync(ready)).toBe(true);
  let turn = 0;
  const perTurn = new Map<number, number>();
  s.on('connection', () => perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1));
  let ticking = true;
  const tick = (): void => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const accepted = (): number => [...perTurn.values()].reduce((a, b) => a + b, 0);
  return {
    child,
    exited,
    perTurn,
    accepted,
    stop: () => (ticking = false),
  };
}

/** A reader over the in-memory store, its log lines, and its accept-handles gauge. */
function memoryReader() {
  const store = new MemoryStore();
  const { log, lines } = captureLogger();
  const metrics = createMetrics();
  const reader = createReader({
    store: { media: store.media, manifests: store.manifests, streams: store.streams, health: store.health },
    events: store.events,
    metrics,
    log,
  });
  const handles = async (): Promise<number | undefined> =>
    (await metrics.readerAcceptHandles.get()).values[0]?.value;
  return { reader, lines, handles };
}

describe('acceptors', () => {
  it('Node 20 alone accepts one connection per event-loop turn (the reason for the extra handles)', async () => {
    const { s, port } = await listening();
    const b = await burst(s, port, 100, true);
    await waitFor(() => b.accepted() === 100, 20_000, 'all 100 accepted');
    b.stop();
    expect(await b.exited).toBe(0);
    expect(Math.max(...b.perTurn.values())).toBe(1);
  });

  it('with 8 handles, up to 8 a turn, every connection answered by the HTTP server', async () => {
    const { s, port } = await listening();
    const a = await addAcceptors(s, { total: 8, maxConnections: 0, backlog: 1024 });
    expect(a.count).toBe(8);
    const b = await burst(s, port, 200, true);
    await waitFor(() => b.accepted() === 200, 20_000, 'all 200 accepted');
    b.stop();
    expect(await b.exited).toBe(0);
    expect(Math.max(...b.perTurn.values())).toBe(8);
    // 200 waiting connections in about 200 / 8 turns, not 200.
    expect(b.perTurn.size).toBeLessThan(60);
    await a.close();
  });

  it('maxConnections bounds the connections open through all handles together', async () => {
    const { s, port } = await listening();
    let dropped = 0;
    s.on('drop', () => dropped++);
    const a = await addAcceptors(s, { total: 8, maxConnections: 20, backlog: 1024, onDrop: () => dropped++ });
    const b = await burst(s, port, 60, false);
    // Every connection is either taken in or refused.
    await waitFor(() => b.accepted() + dropped === 60, 20_000, 'all 60 taken in or refused');
    b.stop();
    // Node's own handle may take one past the limit (it reads a limit of 0 as none).
    expect(b.accepted()).toBeGreaterThanOrEqual(20);
    expect(b.accepted()).toBeLessThanOrEqual(21);
    expect(a.open).toBe(b.accepted());
    b.child.kill();
    await b.exited;
    // Closed connections make room again.
    await waitFor(() => a.open === 0, 20_000, 'connections closed');
    const c = connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    c.write('GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    const text = await new Promise<string>((r) => {
      let got = '';
      c.on('data', (d) => (got += d));
      c.on('close', () => r(got));
    });
    expect(text).toMatch(/^HTTP\/1.1 200/);
    await a.close();
  });

  it("the reader's close stops every handle: the port refuses connections", async () => {
    const { reader, lines, handles } = memoryReader();
    const port = await reader.listen(0, '127.0.0.1', { acceptors: 4 });
    expect(lines.find((l) => l.msg === 'reader listening')).toMatchObject({ port, acceptors: 4 });
    expect(await handles()).toBe(4); // what bench:load reports as the handles the reader got
    await reader.close();
    expect(await handles()).toBe(0);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(undefined)));
      c.once('error', (e) => r(e));
    });
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('closed while the copies are made: the port refuses connections and the gauge reads 0', async () => {
    const { reader, handles } = memoryReader();
    const port = await freePort();
    const listening = reader.listen(port, '127.0.0.1', { acceptors: 4 });
    // Listening on Node's own handle, the copies still being made by the helper process (tens of ms).
    const connects = (): Promise<boolean> =>
      new Promise((r) => {
        const c = connect(port, '127.0.0.1');
        c.once('connect', () => (c.destroy(), r(true)));
        c.once('error', () => r(false));
      });
    await waitFor(connects, 5000);
    await reader.close();
    await listening;
    expect(await handles()).toBe(0);
    expect(await connects()).toBe(false);
  });

  it('http.acceptors: 32 by default, HTTP_ACCEPTORS overrides it, 0 is refused', () => {
    expect(loadConfig(undefined, {}).http.acceptors).toBe(32);
    expect(loadConfig(undefined, { HTTP_ACCEPTORS: '1' }).http.acceptors).toBe(1);
    expect(() => loadConfig(undefined, { HTTP_ACCEPTORS: '0' })).toThrow(ConfigError);
  });
});
