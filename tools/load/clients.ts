/**
 * Player-like load clients, run as a child process (bench/load.ts, bench/soak.ts fork several) so they never
 * share an event loop with what they measure.
 *
 * - LL-HLS clients behave like hls.js in low-latency mode: one plain playlist load, then a loop of blocking
 *   reloads for the part after the newest (`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` when the playlist offers
 *   it), and, at the same time, a request for the preload-hinted part (held by the origin until it exists); every
 *   newly listed part that was not already fetched through the hint is fetched too.
 * - Classic HLS clients reload the playlist once per target duration and fetch each new segment once.
 *
 * Configured by one JSON argument (LoadClientsOptions). The parent sends {t:'announce'} messages over IPC with
 * the time its own subscriber heard each manifest event, and {t:'stop'}; the child answers {t:'result'}
 * (LoadClientsResult) and exits. Times are wall-clock ms with sub-ms precision
 * (performance.timeOrigin + performance.now()), comparable across processes on one machine.
 */
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ERROR_BODY_MAX, RawPool } from './raw-http.js';

export interface LoadClientsOptions {
  /** e.g. http://127.0.0.1:8080/live/s — the stream's base URL (reader or CDN). */
  base: string;
  rendition: string;
  ll: number;
  classic: number;
  /** Spread client starts over this many ms (a thundering herd at start is not what is measured). */
  rampMs: number;
  /** LL clients also request the preload-hinted part (default true). */
  preloadHints?: boolean;
  /**
   * The HTTP client: 'raw' (tools/load/raw-http.ts: a hand-parsed keep-alive GET per net.Socket, a few times
   * cheaper) or 'node' (node:http with a keep-alive Agent). Default: LOAD_CLIENT_HTTP, else 'raw'.
   */
  http?: 'raw' | 'node';
}

/** One announce as heard by the parent's subscriber: rendition r reached (msn, part) at `at`. */
export interface Announce {
  t: 'announce';
  r: string;
  msn: number;
  part: number;
  at: number;
}

export interface LoadClientsResult {
  t: 'result';
  /** Status counts per request kind (0 = connection error, before any status). */
  statuses: Record<string, Record<string, number>>;
  /** Failed requests per kind by cause: the error code for status 0 (ECONNRESET, timeout...), else "status reason". */
  failures: Record<string, Record<string, number>>;
  requests: number;
  /**
   * Requests sent again after their reused keep-alive socket was found closed by the server before any answer
   * (what a browser does unseen; see get()), per kind and cause. Not errors; an error is counted only if the
   * resends fail too.
   */
  resent: Record<string, Record<string, number>>;
  /** Sent -> last byte of 200 answers per kind, and an LL client's whole cycle (reload sent -> parts in), ms. */
  latencyMs: Record<string, { n: number; p50: number; p99: number; max: number }>;
  /** Blocking reloads held when their part was announced: response complete - announce heard, ms. */
  releaseMs: number[];
  /** When each of `releaseMs` completed (wall clock, ms since the epoch), in step with it. */
  releaseDoneAt: number[];
  /** Blocking reloads answered without being held (their part was already announced when sent). */
  notHeld: number;
  /** Blocking reloads completed with 200 that no announce covers (the run ended first, or an announce lost). */
  unmatched: number;
  /** Preload-hinted part requests that were held: response complete - sent, ms (bounded by a part duration). */
  hintHeldMs: number[];
  /** The first failed requests (up to 40 per process): what was asked, when, and how long the answer took. */
  failureExamples: Array<{
    kind: string;
    url: string;
    status: number;
    why?: string;
    sentAt: string;
    ms: number;
  }>;
  /**
   * The first request on each new connection (raw client only): sent, before the handshake, -> first byte of the
   * answer, ms. Against `latencyMs` of the same kinds on kept connections it shows how long a new connection waited
   * to be accepted and read (issue #13, decision 024).
   */
  newConnectionFirstByteMs: number[];
  /**
   * When the first request on each new connection was sent, answered or failed (raw client only; wall clock, ms
   * since the epoch with sub-ms precision).
   */
  newConnectionSentAt: number[];
  /** The request kind of each first request on a new connection, in step with `newConnectionSentAt`. */
  newConnectionKind: string[];
  /** When a player's idle connection was closed by the server (raw client only; wall clock as above). */
  idleClosedAt: number[];
  /** This process's event-loop delay, ms (a busy client delays what it records). */
  loopDelayMs: { p50: number; p99: number; max: number };
  mediaBytes: number;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Per-kind counts of several client processes added up (statuses, failures by cause, resends). */
export function mergeCounts(
  all: ReadonlyArray<Record<string, Record<string, number>>>,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const one of all)
    for (const [kind, by] of Object.entries(one))
      for (const [s, n] of Object.entries(by)) {
        const k = (out[kind] ??= {});
        k[s] = (k[s] ?? 0) + n;
      }
  return out;
}

interface Got {
  status: number;
  /** The body, for playlists only: media bodies are counted, not kept (in a CPU profile of the client processes at
   * 1,000 + 1,000 clients, Buffer.concat of bodies took 4 % and garbage collection 11 %). */
  body: Buffer;
  bytes: number;
  doneAt: number;
  /** Why it failed: the error code for status 0, the status line's reason phrase otherwise. */
  why?: string;
  /** Causes of the transparent resends before this answer (see get()). */
  resent?: string[];
  /** What was asked (set by get()). */
  url?: string;
  /** When the first attempt was sent. */
  sentAt?: number;
  /** The first request on a new connection (raw client): sent -> first byte, ms. */
  newConnectionFirstByteMs?: number;
  /** The first request on a new connection, answered or failed (raw client): when it was sent. */
  newConnectionSentAt?: number;
}

const EMPTY = Buffer.alloc(0);

const errorCode = (err: Error & { code?: string }): string => err.code ?? err.message.slice(0, 40);

/**
 * Why an answer failed: the error code for status 0; else the status with the code Wellspring's reader puts first
 * in an error body ("BLOCKING_TIMEOUT: ...", src/reader/errors.ts), or the reason phrase from other servers.
 */
export function failureCause(status: number, why: string | undefined, body: Buffer): string {
  if (status === 0) return why ?? 'error';
  const code = /^([A-Z][A-Z_]+):/.exec(body.subarray(0, 64).toString('latin1'))?.[1];
  return `${status} ${code ?? why ?? ''}`.trim();
}

/** One player's connections: at most `max` keep-alive sockets to the origin. */
interface Fetcher {
  once(url: string, timeoutMs: number, keepBody: boolean): Promise<Got & { staleSocket: boolean }>;
  destroy(): void;
}

function nodeFetcher(max: number): Fetcher {
  const agent = new Agent({ keepAlive: true, maxSockets: max });
  return { once: (url, t, k) => getOnce(agent, url, t, k), destroy: () => agent.destroy() };
}

function rawFetcher(base: string, max: number, idleClosedAt: number[]): Fetcher {
  const u = new URL(base);
  const pool = new RawPool(u.hostname, Number(u.port || 80), max, idleClosedAt);
  const origin = `${u.protocol}//${u.host}`;
  return {
    once: (url, t, k) => pool.get(url.startsWith(origin) ? url.slice(origin.length) : url, t, k),
    destroy: () => pool.destroy(),
  };
}

/** A GET on a keep-alive agent; resolves on the last byte (status 0 on a connection error or timeout). */
function getOnce(
  agent: Agent,
  url: string,
  timeoutMs: number,
  keepBody: boolean,
): Promise<Got & { staleSocket: boolean }> {
  return new Promise((resolve) => {
    let answered = false;
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let bytes = 0;
      const keep = keepBody || (res.statusCode ?? 0) >= 400;
      res.on('data', (d: Buffer) => {
        if (keepBody) chunks.push(d);
        else if (keep && bytes < ERROR_BODY_MAX) chunks.push(d.subarray(0, ERROR_BODY_MAX - bytes));
        bytes += d.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: keep ? Buffer.concat(chunks) : EMPTY,
          bytes,
          doneAt: now(),
          why: res.statusMessage,
          staleSocket: false,
        }),
      );
      res.on('error', (err) =>
        resolve({
          status: 0,
          body: EMPTY,
          bytes: 0,
          doneAt: now(),
          why: `body ${errorCode(err)}`,
          staleSocket: false,
        }),
      );
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    // Whether the request went out on a kept-alive socket that had already carried a response: a reset there
    // before any answer is the keep-alive race (the server closed the idle socket as the client reused it).
    req.on('error', (err: Error & { code?: string }) => {
      const code = errorCode(err);
      resolve({
        status: 0,
        body: EMPTY,
        bytes: 0,
        doneAt: now(),
        why: `${code} ${req.reusedSocket ? 'reused' : 'new'} socket`,
        staleSocket: req.reusedSocket && !answered && ['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(code),
      });
    });
    req.end();
  });
}

/**
 * As a browser does (Chromium's HttpNetworkTransaction::ShouldResendRequest): a request that fails on a reused
 * keep-alive socket before any byte of an answer (reset, broken pipe) is sent again, unseen by the player — the
 * server closed that idle socket as the client reused it. Up to 3 such resends (each takes the dead socket out of
 * the pool); a failure on a new socket, a timeout or a failure after the answer began is the player's error.
 * The resends are returned so they are counted and reported, never hidden.
 */
async function get(agent: Fetcher, url: string, timeoutMs: number, keepBody = true): Promise<Got> {
  const resent: string[] = [];
  const sentAt = now();
  for (;;) {
    const r = await agent.once(url, timeoutMs, keepBody);
    if (!r.staleSocket || resent.length >= 3) return { ...r, resent, sentAt, url };
    resent.push(r.why ?? 'error');
  }
}

export interface PlaylistView {
  msn: number;
  targetSec: number;
  canSkip: boolean;
  /** Segment URIs, oldest first, with their media sequence numbers. */
  segments: Array<{ msn: number; uri: string }>;
  /** Parts listed after the last complete segment and in it (URI and position). */
  parts: Array<{ msn: number; part: number; uri: string }>;
  hint?: { msn: number; part: number; uri: string };
}

/** Just what a player needs from a media playlist (ours names parts part-M.P.m4s and segments seg-M.m4s). */
export function readPlaylist(text: string): PlaylistView {
  const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  const targetSec = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? 2);
  const segments: PlaylistView['segments'] = [];
  for (const m of text.matchAll(/^(seg-(\d+)\.m4s)$/gm)) segments.push({ msn: Number(m[2]), uri: m[1]! });
  const parts: PlaylistView['parts'] = [];
  for (const m of text.matchAll(/#EXT-X-PART:[^\n]*URI="(part-(\d+)\.(\d+)\.m4s)"/g))
    parts.push({ msn: Number(m[2]), part: Number(m[3]), uri: m[1]! });
  const h = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part-(\d+)\.(\d+)\.m4s)"/.exec(text);
  return {
    msn,
    targetSec,
    canSkip: text.includes('CAN-SKIP-UNTIL'),
    segments,
    parts,
    hint: h ? { msn: Number(h[2]), part: Number(h[3]), uri: h[1]! } : undefined,
  };
}

/** Runs the clients until stop() resolves; returns what they saw. */
export function runClients(o: LoadClientsOptions): {
  announce(a: Announce): void;
  stop(): Promise<LoadClientsResult>;
} {
  const url = `${o.base}/${o.rendition}`;
  const http = o.http ?? (process.env.LOAD_CLIENT_HTTP === 'node' ? 'node' : 'raw');
  const idleClosedAt: number[] = [];
  const fetcher = (max: number): Fetcher =>
    http === 'raw' ? rawFetcher(o.base, max, idleClosedAt) : nodeFetcher(max);
  let running = true;
  const statuses: Record<string, Record<string, number>> = {};
  let requests = 0;
  let mediaBytes = 0;
  const failures: Record<string, Record<string, number>> = {};
  const failureExamples: LoadClientsResult['failureExamples'] = [];
  const resent: Record<string, Record<string, number>> = {};
  const took: Record<string, number[]> = {};
  const cycles: number[] = [];
  const newConnectionFirstByteMs: number[] = [];
  const newConnectionSentAt: number[] = [];
  const newConnectionKind: string[] = [];
  const count = (kind: string, r: Got): void => {
    const { status, why } = r;
    if (r.newConnectionFirstByteMs !== undefined) newConnectionFirstByteMs.push(r.newConnectionFirstByteMs);
    if (r.newConnectionSentAt !== undefined) {
      newConnectionSentAt.push(r.newConnectionSentAt);
      newConnectionKind.push(kind);
    }
    if (r.sentAt !== undefined && status === 200) (took[kind] ??= []).push(r.doneAt - r.sentAt);
    for (const c of r.resent ?? []) {
      const k = (resent[kind] ??= {});
      k[c] = (k[c] ?? 0) + 1;
    }
    requests++;
    const k = (statuses[kind] ??= {});
    k[status] = (k[status] ?? 0) + 1;
    if (status === 0 || status >= 400) {
      const f = (failures[kind] ??= {});
      const cause = failureCause(status, why, r.body);
      f[cause] = (f[cause] ?? 0) + 1;
      if (failureExamples.length < 40)
        failureExamples.push({
          kind,
          url: r.url ?? '',
          status,
          why: cause,
          sentAt: new Date(r.sentAt ?? 0).toISOString(),
          ms: Math.round(r.doneAt - (r.sentAt ?? r.doneAt)),
        });
    }
  };
  const held: Array<{ msn: number; part: number; sentAt: number; doneAt: number }> = [];
  const hintHeldMs: number[] = [];
  const announces: Announce[] = [];
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const tasks: Array<Promise<void>> = [];
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  async function llClient(delay: number): Promise<void> {
    await sleep(delay);
    const agent = fetcher(4);
    const fetched = new Set<string>();
    let view: PlaylistView | undefined;
    while (running && !view) {
      const r = await get(agent, `${url}/index.m3u8`, 10_000);
      count('playlist', r);
      if (r.status === 200) view = readPlaylist(r.body.toString());
      else await sleep(500);
    }
    while (running && view) {
      const hint: PlaylistView['hint'] = view.hint;
      if (!hint) {
        await sleep(200);
        const r = await get(agent, `${url}/index.m3u8`, 10_000);
        count('playlist', r);
        if (r.status === 200) view = readPlaylist(r.body.toString());
        continue;
      }
      let hintReq: Promise<void> | undefined;
      if (o.preloadHints !== false && !fetched.has(hint.uri)) {
        fetched.add(hint.uri);
        const sent = now();
        hintReq = get(agent, `${url}/${hint.uri}`, 15_000, false).then((r) => {
          count('hinted-part', r);
          mediaBytes += r.bytes;
          if (r.status === 200) hintHeldMs.push(r.doneAt - sent);
        });
      }
      const q = `_HLS_msn=${hint.msn}&_HLS_part=${hint.part}${view.canSkip ? '&_HLS_skip=YES' : ''}`;
      const sentAt = now();
      const r = await get(agent, `${url}/index.m3u8?${q}`, 15_000);
      count('blocking-reload', r);
      if (r.status !== 200) {
        await hintReq;
        if (!running) break;
        // Start over from a plain reload, as a player does after an error.
        await sleep(r.status === 0 ? 500 : 100);
        const p = await get(agent, `${url}/index.m3u8`, 10_000);
        count('playlist', p);
        if (p.status === 200) view = readPlaylist(p.body.toString());
        continue;
      }
      held.push({ msn: hint.msn, part: hint.part, sentAt, doneAt: r.doneAt });
      const next = readPlaylist(r.body.toString());
      // Newly listed parts not already fetched through a hint (at most the last two, as a player at the edge).
      const missing = next.parts.filter((p) => !fetched.has(p.uri)).slice(-2);
      for (const p of missing) fetched.add(p.uri);
      await Promise.all([
        hintReq,
        ...missing.map((p) =>
          get(agent, `${url}/${p.uri}`, 10_000, false).then((g) => {
            count('part', g);
            mediaBytes += g.bytes;
          }),
        ),
      ]);
      cycles.push(now() - sentAt);
      if (fetched.size > 200) {
        const keep = [...fetched].slice(-50);
        fetched.clear();
        for (const k of keep) fetched.add(k);
      }
      view = next;
    }
    agent.destroy();
  }

  async function classicClient(delay: number): Promise<void> {
    await sleep(delay);
    const agent = fetcher(2);
    let newest = -1;
    while (running) {
      const started = Date.now();
      const r = await get(agent, `${url}/index.m3u8`, 10_000);
      count('classic-playlist', r);
      let targetSec = 2;
      if (r.status === 200) {
        const v = readPlaylist(r.body.toString());
        targetSec = v.targetSec;
        const fresh = v.segments.filter((s) => s.msn > newest);
        // A joining player starts with the newest segment; afterwards every new one.
        for (const s of newest < 0 ? fresh.slice(-1) : fresh) {
          const g = await get(agent, `${url}/${s.uri}`, 10_000, false);
          count('segment', g);
          mediaBytes += g.bytes;
          newest = Math.max(newest, s.msn);
        }
      }
      await sleep(Math.max(50, targetSec * 1000 - (Date.now() - started)));
    }
    agent.destroy();
  }

  for (let i = 0; i < o.ll; i++) tasks.push(llClient((o.rampMs * i) / Math.max(1, o.ll)));
  for (let i = 0; i < o.classic; i++) tasks.push(classicClient((o.rampMs * i) / Math.max(1, o.classic)));

  return {
    announce(a) {
      if (a.r === o.rendition) announces.push(a);
    },
    async stop() {
      running = false;
      // Held requests end within a part or two; a client stuck longer is not waited for.
      await Promise.race([Promise.all(tasks), sleep(8000)]);
      loop.disable();
      // The first announce that covers each held request (announces only move forward).
      const sorted = [...announces].sort((a, b) => a.at - b.at);
      const covers = (a: Announce, msn: number, part: number): boolean =>
        a.msn > msn || (a.msn === msn && a.part >= part);
      const releaseMs: number[] = [];
      const releaseDoneAt: number[] = [];
      let notHeld = 0;
      let unmatched = 0;
      for (const h of held) {
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (covers(sorted[mid]!, h.msn, h.part)) hi = mid;
          else lo = mid + 1;
        }
        const a = sorted[lo];
        if (!a) unmatched++;
        else if (h.sentAt >= a.at) notHeld++;
        else {
          releaseMs.push(h.doneAt - a.at);
          releaseDoneAt.push(h.doneAt);
        }
      }
      const ms = (n: number): number => Math.round(n / 1e3) / 1e3;
      return {
        t: 'result',
        statuses,
        failures,
        failureExamples,
        resent,
        latencyMs: Object.fromEntries(
          Object.entries({ ...took, 'll-cycle': cycles }).map(([k, v]) => {
            const a = Float64Array.from(v).sort();
            const q = (f: number): number =>
              Math.round(a[Math.min(a.length - 1, Math.floor(f * a.length))] ?? NaN);
            return [k, { n: a.length, p50: q(0.5), p99: q(0.99), max: Math.round(a[a.length - 1] ?? NaN) }];
          }),
        ),
        requests,
        releaseMs,
        releaseDoneAt,
        notHeld,
        unmatched,
        hintHeldMs,
        newConnectionFirstByteMs,
        newConnectionSentAt,
        newConnectionKind,
        idleClosedAt,
        loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
        mediaBytes,
      };
    },
  };
}

// As a child process: options in argv[2], announces and stop over IPC.
if (process.argv[1]?.endsWith('clients.ts') && process.send) {
  const opts = JSON.parse(process.argv[2]!) as LoadClientsOptions;
  const c = runClients(opts);
  process.on('message', (m: Announce | { t: 'stop' }) => {
    if (m.t === 'announce') c.announce(m);
    else
      void c.stop().then((res) => {
        process.send!(res, () => process.exit(0));
      });
  });
  process.on('disconnect', () => process.exit(0));
}
