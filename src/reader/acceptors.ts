/**
 * Several accepts per event-loop turn on one listening socket (decision 025).
 *
 * Node 20's libuv accepts one connection per turn of the event loop and per listening handle (decision 024). A
 * reader whose turns take tens of ms under load then takes in tens of new connections a second, and a burst waits
 * seconds in the kernel's queue. Node 20 cannot open a second socket on the port (`reusePort` needs Node 22.12),
 * but a second *descriptor* of the same listening socket is a second handle in the same loop: each turn, epoll
 * reports every descriptor whose queue (the one shared queue) is not empty, and each handle accepts one.
 *
 * Node makes such duplicates only when it passes a handle to another process (SCM_RIGHTS). So `duplicates` sends
 * the server's handle to a short-lived child process that sends each copy straight back, then exits. The copies
 * listen in `net.Server`s that hand every accepted connection to the HTTP server (its documented 'connection'
 * event), so headers and request timeouts, keep-alive and `closeAllConnections` treat them as its own.
 */
import { spawn } from 'node:child_process';
import { type Server as HttpServer } from 'node:http';
import { type Server, type Socket, createServer } from 'node:net';

/**
 * The child's whole program: each handle received goes back, and its own copy is closed once sent (Node closes a
 * sent raw handle only if asked); after the last, it leaves.
 */
const ECHO = `process.on('message', (m, h) => process.send(m, h, () => { h.close(); if (m.last) process.disconnect(); }));`;

/** The socket options a server gives the connections it accepts (set by its constructor; not in Node's types). */
interface ServerOpts {
  allowHalfOpen: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  keepAliveInitialDelay: number;
  highWaterMark: number;
}

/** Closes a raw handle (a copy of the listening socket). */
const closeHandle = (h: object): void => (h as { close?: () => void }).close?.();

/** The HTTP server's listening handle (not in Node's public types; present once it listens). */
function handleOf(server: HttpServer): object {
  const h = (server as unknown as { _handle?: object | null })._handle;
  if (!h) throw new Error('the server is not listening');
  return h;
}

/**
 * `count` more descriptors of `server`'s listening socket, through a child process's IPC channel. Resolves once the
 * child has exited (so no copy of the socket stays open elsewhere); rejects after `timeoutMs` or if the child cannot
 * start or leaves early (the caller listens with one handle then). A copy that comes after a failure is closed.
 */
export async function duplicates(server: HttpServer, count: number, timeoutMs = 5000): Promise<object[]> {
  if (count <= 0) return [];
  const handle = handleOf(server);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // a loader (tsx) or an inspector flag meant for the reader is not for this child
  const child = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env });
  const got: object[] = [];
  let failed = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer);
        failed = true;
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no listening-socket copies from the helper process within ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.on('error', fail);
      child.once('exit', (code, signal) => {
        if (got.length < count)
          fail(
            new Error(`the helper process left (${signal ?? code}) after ${got.length} of ${count} copies`),
          );
        else {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('message', (_m: unknown, h: object | undefined) => {
        if (!h) return;
        if (failed) closeHandle(h);
        else got.push(h);
      });
      for (let i = 0; i < count; i++)
        child.send({ i, last: i === count - 1 }, handle as Parameters<typeof child.send>[1], {
          keepOpen: true,
        });
    });
    return got;
  } catch (err) {
    for (const h of got) closeHandle(h);
    got.length = 0;
    throw err;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** The extra acceptors of one HTTP server; `close` stops them (the HTTP server closes its own). */
export interface Acceptors {
  /** Handles accepting, the server's own included. */
  readonly count: number;
  /** Connections open through any handle. */
  readonly open: number;
  close(): Promise<void>;
}

/**
 * Makes `server` (listening) accept up to `total` connections per turn: `total - 1` more handles on its socket,
 * each handing its connections to `server`. `maxConnections` (0: none) bounds the connections open through all
 * of them together: the extra handles refuse at the limit; the server's own handle's `maxConnections` follows the
 * room left (Node reads 0 as "no limit", so its own handle may take one past it). Each copy listens with the
 * server's `backlog`: listen() on a copy sets the one socket's backlog, and Node's default (511) would undo it.
 */
export async function addAcceptors(
  server: HttpServer,
  o: {
    total: number;
    maxConnections: number;
    backlog: number;
    /** A copy refused a connection because `maxConnections` were open (the server's own handle emits 'drop'). */
    onDrop?: () => void;
  },
): Promise<Acceptors> {
  const { total, maxConnections, backlog, onDrop } = o;
  const copies = await duplicates(server, total - 1);
  let open = 0;
  let own = 0;
  const handedOver = new WeakSet<Socket>();
  const room = (): void => {
    if (maxConnections > 0) server.maxConnections = Math.max(1, own + Math.max(0, maxConnections - open));
  };
  server.prependListener('connection', (socket: Socket) => {
    const mine = !handedOver.has(socket);
    open++;
    if (mine) own++;
    socket.once('close', () => {
      open--;
      if (mine) own--;
      room();
    });
    room();
  });
  room();
  // The HTTP server's own socket options (no Nagle, half-open allowed...), which it gives its own connections.
  const so = server as unknown as ServerOpts;
  const servers: Server[] = [];
  try {
    for (const h of copies) {
      const s = createServer({
        allowHalfOpen: so.allowHalfOpen,
        noDelay: so.noDelay,
        keepAlive: so.keepAlive,
        keepAliveInitialDelay: so.keepAliveInitialDelay,
        highWaterMark: so.highWaterMark,
      });
      s.on('connection', (socket: Socket) => {
        if (maxConnections > 0 && open >= maxConnections) {
          onDrop?.();
          socket.destroy();
          return;
        }
        handedOver.add(socket);
        server.emit('connection', socket);
      });
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(h, backlog, () => (s.off('error', reject), resolve()));
      });
      // A copy that fails to accept (EMFILE) reports as the server's own handle would.
      s.on('error', (err) => server.emit('error', err));
    }
  } catch (err) {
    for (const s of servers) s.close();
    for (const h of copies.slice(servers.length)) closeHandle(h);
    throw err;
  }
  return {
    count: servers.length + 1,
    get open() {
      return open;
    },
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
