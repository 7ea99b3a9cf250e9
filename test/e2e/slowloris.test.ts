/**
 * Slowloris (#13): half-open connections must not be held forever, nor starve a live stream. A node (ingest,
 * manifest worker, reader) with short timeouts in its config; 200 HTTP connections that dribble a request line a
 * byte at a time and 50 RTMP connections that never finish the handshake. While they are held the live stream is
 * served as usual (and an LL-HLS blocking reload held longer than the request timeout is answered, not cut);
 * after the configured timeouts the server has closed every one of them, and the live publisher is still on.
 */
import { type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import {
  captureLogger,
  type Encoder,
  rtmpEncoder,
  sleep,
  TEST_LADDER,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

const STREAM = 'cam';
const RUNG = TEST_LADDER[1]!;
const HEADERS_MS = 1500;
const RTMP_DEADLINE_MS = 2000;
const HTTP_SOCKETS = 200;
const RTMP_SOCKETS = 50;

const RTMP_IDLE_MS = 3000;

let config: Config;
let node: NodeHandle;
let enc: Encoder;
let lines: Array<Record<string, unknown>>;

const playlistUrl = (q = ''): string =>
  `http://127.0.0.1:${node.httpPort}/live/${STREAM}/${RUNG.name}/index.m3u8${q}`;

/** The in-progress segment's media sequence number. */
async function currentMsn(): Promise<number> {
  const r = await get(playlistUrl());
  expect(r.status).toBe(200);
  const pl = m3u8(r.body.toString());
  return (pl.mediaSequence as number) + (pl.segments as unknown[]).length;
}

interface Held {
  socket: Socket;
  openedAt: number;
  closedAt?: number;
}

/** Opens a connection; `onConnect` starts the client's (mis)behaviour. Records when the server closes it. */
function hold(port: number, onConnect: (s: Socket) => void): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const h: Held = { socket, openedAt: 0 };
    socket.on('error', () => undefined);
    socket.on('close', () => (h.closedAt = Date.now()));
    socket.once('connect', () => {
      h.openedAt = Date.now();
      onConnect(socket);
      resolve(h);
    });
    setTimeout(() => reject(new Error('connect timed out')), 5000).unref();
  });
}

beforeAll(async () => {
  config = testConfig({
    http: {
      host: '127.0.0.1',
      port: 0,
      headersTimeoutMs: HEADERS_MS,
      requestTimeoutMs: HEADERS_MS,
      keepAliveTimeoutMs: 2000,
      idleTimeoutMs: 10_000,
    },
    rtmp: { host: '127.0.0.1', port: 0, publishDeadlineMs: RTMP_DEADLINE_MS, idleTimeoutMs: RTMP_IDLE_MS },
    // 2 s segments: a blocking reload can be held longer than the request timeout.
    defaults: { segmentSec: 2, partSec: 0.5, windowSec: 12, dvrWindowSec: 30, ladder: [RUNG] },
  });
  const cap = captureLogger();
  lines = cap.lines;
  const log = cap.log;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${STREAM}`, 80);
  await waitFor(async () => (await get(playlistUrl())).status === 200, 30_000, 'stream live');
});

afterAll(async () => {
  await enc?.stop();
  await node?.stop();
});

describe('slowloris (#13)', () => {
  it('half-open HTTP and RTMP connections are closed after the timeouts; the live stream is served meanwhile', async () => {
    const timers: NodeJS.Timeout[] = [];
    const http = await Promise.all(
      Array.from({ length: HTTP_SOCKETS }, () =>
        hold(node.httpPort!, (s) => {
          s.write('GET /live/');
          // A byte every 300 ms: the request line never ends.
          const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('a')), 300);
          timers.push(t);
        }),
      ),
    );
    const rtmp = await Promise.all(
      Array.from({ length: RTMP_SOCKETS }, () =>
        // C0 and a tenth of C1: the handshake never completes.
        hold(node.rtmpPort!, (s) => s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(150, 7)]))),
      ),
    );
    const all = [...http, ...rtmp];
    try {
      await sleep(300);
      // They are really held: nothing closed yet.
      expect(all.filter((h) => h.closedAt !== undefined)).toHaveLength(0);

      // Meanwhile the stream is served at normal latency.
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const r = await get(playlistUrl());
        latencies.push(performance.now() - t0);
        expect(r.status).toBe(200);
      }
      // An LL-HLS blocking reload for the segment after the next is held for 2-4 s, longer than the request
      // timeout: it is answered, not cut.
      const msn = await currentMsn();
      const t0 = Date.now();
      const blocked = await get(playlistUrl(`?_HLS_msn=${msn + 1}`));
      const heldMs = Date.now() - t0;
      expect(blocked.status).toBe(200);
      expect(heldMs).toBeGreaterThan(HEADERS_MS);

      await waitFor(() => all.every((h) => h.closedAt !== undefined), 10_000, 'the server to close them');
      const httpClose = http.map((h) => h.closedAt! - h.openedAt);
      const rtmpClose = rtmp.map((h) => h.closedAt! - h.openedAt);
      console.log(
        [
          `playlist latency while ${all.length} half-open connections were held: max ${Math.max(...latencies).toFixed(1)} ms`,
          `blocking reload held ${heldMs} ms and answered 200`,
          `HTTP half-open closed after ${Math.min(...httpClose)}-${Math.max(...httpClose)} ms (headersTimeout ${HEADERS_MS})`,
          `RTMP half-handshakes closed after ${Math.min(...rtmpClose)}-${Math.max(...rtmpClose)} ms (deadline ${RTMP_DEADLINE_MS})`,
        ].join('\n'),
      );
      expect(Math.max(...latencies)).toBeLessThan(1000);
      for (const ms of httpClose) {
        expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
        expect(ms).toBeLessThan(HEADERS_MS + 2500);
      }
      for (const ms of rtmpClose) {
        expect(ms).toBeGreaterThanOrEqual(RTMP_DEADLINE_MS - 50);
        expect(ms).toBeLessThan(RTMP_DEADLINE_MS + 1500);
      }

      // The live publisher outlives the deadline and the idle timeout: still on, the stream still advancing.
      const before = await currentMsn();
      await waitFor(async () => (await currentMsn()) >= before + 2, 10_000, 'the stream to advance');
      expect(enc.child.exitCode).toBeNull();
    } finally {
      for (const t of timers) clearInterval(t);
      for (const h of all) h.socket.destroy();
    }
  });

  it('a publisher that goes silent is closed after the idle timeout', async () => {
    const quiet = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/quiet`, 60);
    try {
      await waitFor(
        () => lines.some((l) => l.msg === 'RTMP publisher accepted' && l.stream === 'quiet'),
        15_000,
        'the quiet publisher',
      );
      await waitFor(async () => (await get(playlistUrl().replace(STREAM, 'quiet'))).status === 200, 30_000);
      // Frozen: its socket stays open and sends nothing.
      quiet.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const closed = await waitFor(
        () => lines.find((l) => l.msg === 'RTMP connection closed' && l.stream === 'quiet'),
        RTMP_IDLE_MS + 5000,
        'the server to close the silent publisher',
      );
      const after = (closed.time as number) - stoppedAt;
      console.log(
        `silent publisher closed ${after} ms after it froze (idle timeout ${RTMP_IDLE_MS}): ${String(closed.reason)}`,
      );
      expect(closed.reason).toBe('idle timeout');
      // Its last bytes left a moment before it froze.
      expect(after).toBeGreaterThanOrEqual(RTMP_IDLE_MS - 500);
      expect(after).toBeLessThan(RTMP_IDLE_MS + 2000);
    } finally {
      quiet.child.kill('SIGKILL');
      await quiet.done;
    }
  });
});
