/**
 * The reader: a thin, stateless HTTP server that serves playlists, MPDs and media from the store to a CDN.
 * LL-HLS blocking playlist reloads, preload-hinted parts and in-progress segments (LL-DASH) are held and
 * released by events from the ingest and the manifest worker (waits.ts); nothing polls.
 *
 * Built by `createReader(deps)`; `handle` is a plain request handler, testable without listening. The pieces, by
 * noun: routes.ts (URL layout), playlists.ts, media.ts, ops.ts (operational routes), respond.ts (writing
 * answers), errors.ts (the error catalogue), waits.ts (waiting on events).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Logger, OutageLog } from '../log.js';
import type { Metrics } from '../metrics.js';
import { manifestName } from '../core/index.js';
import type {
  EventBus,
  ManifestStore,
  MediaStore,
  ObjectStore,
  SegmentArchive,
  StoreHealth,
  StreamDirectory,
} from '../store/ports.js';
import type { ReaderAccess } from './access.js';
import { type Acceptors, addAcceptors } from './acceptors.js';
import { ReaderError, toReaderError } from './errors.js';
import { MediaObjects } from './media.js';
import { serveOps } from './ops.js';
import { ManifestReads, Playlists } from './playlists.js';
import type { ObjectClass } from './http-policy.js';
import { type Exchange, applyCors, sendEmpty, sendError } from './respond.js';
import { type Route, directives, route } from './routes.js';
import { serveStoredObject } from './stored-objects.js';
import { TimeShift } from './timeshift.js';
import { VOD_PREFIX, type VodObjects } from './vod.js';
import { API_PREFIX, type ControlApi } from '../api/router.js';
import type { DisabledStreams } from '../api/disabled.js';
import { type ApiTokens, bearer } from '../api/auth.js';

export interface ReaderDeps {
  store: {
    media: MediaStore;
    manifests: ManifestStore;
    streams: StreamDirectory;
    health: StoreHealth;
    /** Objects pushed through the object API, served at /objects/ (issue #10). */
    objects?: ObjectStore;
    /** Records of the DVR window beyond Redis (issue #11): dvr.m3u8, dvr.mpd and time-shift URLs list them. */
    archive?: SegmentArchive;
  };
  events: EventBus;
  metrics: Metrics;
  log: Logger;
  /** In-process cache for immutable media, bytes (config reader.mediaCacheBytes). */
  cacheBytes?: number;
  /**
   * Longest a plain playlist request may be answered from the render read last, ms; a manifest event of the
   * stream ends it sooner (config reader.manifestCacheMs; 0: every request reads the store; decision 016).
   */
  manifestCacheMs?: number;
  /** The control API under /api/v1 (issue #12). */
  api?: ControlApi;
  /** Streams an operator disabled answer 403/404 (issue #12). */
  disabled?: DisabledStreams;
  /** The CDN secret and signed playback (access.ts, issue #12); none: everything open. */
  access?: ReaderAccess;
  /**
   * When set, /metrics and /streams answer only a control API token (any scope) in `Authorization: Bearer`
   * (issue #12: they list every stream; a closed config keeps them for operators and Prometheus).
   */
  opsTokens?: ApiTokens;
  /** VOD assets in the cold tier, served at /vod/ (issue #11); absent: /vod/ is a 404. */
  vod?: VodObjects;
}

export interface Reader {
  /** The request handler (also usable behind another server). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens; resolves with the bound port (useful with port 0). */
  listen(port: number, host: string, limits?: Partial<HttpLimits>): Promise<number>;
  close(): Promise<void>;
}

const MAX_URL = 2048;

/** Routes answered through respond.ts, which sets CORS itself (prepared header lists or applyCors). */
const PREPARED_KINDS: ReadonlySet<Route['kind']> = new Set(['master', 'mpd', 'media-playlist', 'object']);

/**
 * The HTTP server's limits (config `http.*`). The header and request timeouts bound the time a client takes to
 * *send* its request (slowloris): once a request is in, Node stops timing it, so a held answer (an LL-HLS
 * blocking reload, up to three target durations; an in-progress segment streamed part by part) is not cut.
 * Between requests a keep-alive connection (a CDN's) lives keepAliveTimeoutMs; a connection that neither sends
 * nor receives a byte for idleTimeoutMs (longer than any hold) is ended; beyond maxConnections (0: no limit) new
 * connections are closed at once.
 */
export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** The listen backlog (the kernel caps it at net.core.somaxconn; decision 024). */
  backlog: number;
  /** Handles accepting on the listening socket, each one connection per event-loop turn (decision 025). */
  acceptors: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  idleTimeoutMs: 120_000,
  maxConnections: 10_000,
  backlog: 4096,
  acceptors: 32,
};

/** A plain playlist or MPD request the fast lane answers: which manifest, with which cache class. */
interface Lane {
  stream: string;
  name: string;
  cls: ObjectClass;
}

/**
 * URLs of only these characters (no query, no percent-escapes, no backslash) are their own WHATWG pathname; the
 * route's name checks then exclude empty and dot segments.
 */
const PLAIN_URL = /^\/live\/[A-Za-z0-9._/-]+$/;
/** Plain URLs remembered with their lane (cleared when full: any URL is routed again at worst). */
const LANES_MAX = 1024;

/** The lane of a route, when a request without a query is a plain read of a stored manifest (not DVR). */
function laneOf(r: Route | undefined): Lane | undefined {
  if (!r) return undefined;
  if (r.kind === 'master') return { stream: r.stream, name: manifestName.master, cls: 'multivariant' };
  if (r.kind === 'mpd' && r.file !== 'dvr.mpd') return { stream: r.stream, name: r.file, cls: 'mpd' };
  if (r.kind === 'media-playlist' && r.file === 'index.m3u8')
    return { stream: r.stream, name: manifestName.media(r.rendition), cls: 'live-playlist' };
  return undefined;
}

/** A URL fit for a log line: a signed playback token (/s/{token}/) is not written. */
const redactUrl = (u: string | undefined): string | undefined => u?.replace(/^\/s\/[^/]*/, '/s/-');

export function createReader(deps: ReaderDeps): Reader {
  const log = deps.log.child({ component: 'reader' });
  const outage = new OutageLog(log, 'store (reader)');
  const reads = new ManifestReads(deps.store.manifests, {
    events: deps.events,
    maxAgeMs: deps.manifestCacheMs ?? 0,
  });
  const playlists = new Playlists({ reads, events: deps.events });
  const media = new MediaObjects({
    media: deps.store.media,
    events: deps.events,
    reads,
    cacheBytes: deps.cacheBytes ?? 128 * 1024 * 1024,
  });
  const ops = { streams: deps.store.streams, health: deps.store.health, metrics: deps.metrics };
  const timeshift = new TimeShift({
    media: deps.store.media,
    streams: deps.store.streams,
    archive: deps.store.archive,
  });
  let server: Server | undefined;
  let acceptors: Acceptors | undefined;

  async function serve(x: Exchange): Promise<Route | undefined> {
    const { req } = x;
    // Stream URLs may be answered by a prepared header list that carries CORS (respond.ts); the rest get it now.
    if (req.url?.startsWith('/live/')) x.corsPending = true;
    else applyCors(x);
    if (req.method === 'OPTIONS') {
      sendEmpty(x, { status: 204, cls: 'no-store' });
      return undefined;
    }
    // The control API (issue #12) has its own bearer tokens, apart from the CDN secret and playback tokens.
    if (deps.api && req.url?.startsWith(API_PREFIX))
      return void (await deps.api.handle(x, new URL(req.url, 'http://reader')));
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ReaderError('METHOD_NOT_ALLOWED', undefined, { Allow: 'GET, HEAD, OPTIONS' });
    let url: URL;
    try {
      if (!req.url || req.url.length > MAX_URL) throw new Error('bad url');
      url = new URL(req.url, 'http://reader');
    } catch {
      throw new ReaderError('BAD_REQUEST');
    }
    let pathname = url.pathname;
    let token: string | undefined;
    if (deps.access) {
      const g = await deps.access.gate(x, pathname);
      if (!g) return undefined; // answered (the CDN's token check)
      ({ pathname, token } = g);
    }
    if (pathname.startsWith(VOD_PREFIX)) {
      if (!deps.vod || token !== undefined) throw new ReaderError('NOT_FOUND');
      return void (await deps.vod.serve(x, pathname));
    }
    let r: Route | undefined;
    try {
      r = route(decodeURIComponent(pathname));
    } catch {
      r = undefined; // undecodable path: not one of ours
    }
    if (!r) throw new ReaderError('NOT_FOUND');
    if (!PREPARED_KINDS.has(r.kind)) applyCors(x);
    if (deps.disabled && 'stream' in r) await deps.disabled.check(r.stream);
    if (deps.access && 'stream' in r) await deps.access.authorize(x, r.stream, token);
    else if (token !== undefined) throw new ReaderError('NOT_FOUND'); // /s/{token}/ only prefixes stream URLs
    // DVR and time-shift URLs (issue #11) are rendered on request from the tiers.
    if (timeshift.wants(r, url.searchParams)) {
      await timeshift.serve(x, r, url.searchParams);
      return r;
    }
    switch (r.kind) {
      case 'page':
      case 'vendor':
      case 'time':
      case 'healthz':
      case 'readyz':
      case 'metrics':
      case 'streams':
        if (
          (r.kind === 'metrics' || r.kind === 'streams') &&
          deps.opsTokens &&
          !deps.opsTokens.check(bearer(req.headers.authorization)).ok
        )
          throw new ReaderError('UNAUTHORIZED');
        await serveOps(x, r, ops);
        break;
      case 'master':
        await playlists.serve(x, r.stream, manifestName.master, 'multivariant');
        break;
      case 'mpd':
        await playlists.serve(x, r.stream, r.file, 'mpd');
        break;
      case 'media-playlist': {
        if (r.file === 'dvr.m3u8') {
          await playlists.serve(x, r.stream, manifestName.dvr(r.rendition), 'dvr-playlist');
          break;
        }
        const d = directives(url.searchParams);
        if ('error' in d) throw new ReaderError('BAD_DIRECTIVE', d.error);
        const name = d.skip ? manifestName.mediaSkip(r.rendition) : manifestName.media(r.rendition);
        if (d.msn === undefined) await playlists.serve(x, r.stream, name, 'live-playlist');
        else
          await playlists.blocking(x, {
            stream: r.stream,
            rendition: r.rendition,
            name,
            directives: { ...d, msn: d.msn },
          });
        break;
      }
      case 'object':
        await media.serve(x, r);
        break;
      case 'stored-object':
        await serveStoredObject(x, r.path, deps.store.objects);
        break;
    }
    return r;
  }

  /** Every failure of a request ends here, once: classified, counted, logged, answered (or the connection cut). */
  function fail(x: Exchange, err: unknown): void {
    const e = toReaderError(err);
    if (e.code === 'STORE_UNAVAILABLE') {
      // The store is unreachable or slow: a quick 503, never a hang and never a stale playlist.
      deps.metrics.redisErrors.inc({ component: 'reader' });
      outage.failed(e.cause, { url: redactUrl(x.req.url) });
    } else if (e.code === 'INTERNAL') {
      log.error({ err: e.cause, method: x.req.method, url: redactUrl(x.req.url) }, 'request failed');
    }
    if (x.res.headersSent) {
      x.res.destroy();
      return;
    }
    sendError(x, e);
  }

  const lanes = new Map<string, Lane>();

  /**
   * The fast lane: a GET/HEAD of a stream's live playlist, multivariant or MPD without a query, on a reader
   * whose access is open, for a stream the disabled-stream set (read within the last second) does not name.
   * Routed once per URL; what serve() would check for it is true by construction (no token, no directive, no
   * DVR, no API), so it skips the URL parser and the async chain. Anything else takes serve().
   */
  function lane(req: IncomingMessage): Lane | undefined {
    const u = req.url;
    if (u === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return undefined;
    if (!u.endsWith('.m3u8') && !u.endsWith('.mpd')) return undefined;
    if (deps.access && !deps.access.open) return undefined;
    let l = lanes.get(u);
    if (!l) {
      if (u.length > MAX_URL || !PLAIN_URL.test(u)) return undefined;
      l = laneOf(route(u));
      if (!l) return undefined;
      if (lanes.size >= LANES_MAX) lanes.clear();
      lanes.set(u, l);
    }
    if (deps.disabled && deps.disabled.passesNow(l.stream) !== true) return undefined;
    return l;
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const x: Exchange = { req, res, metrics: deps.metrics };
    const l = lane(req);
    if (l) {
      x.corsPending = true;
      try {
        // The cached render when it is current (decision 016), written now; else one (shared) store read.
        if (playlists.serveNow(x, l.stream, l.name, l.cls)) return outage.ok();
        playlists.serve(x, l.stream, l.name, l.cls).then(
          () => outage.ok(),
          (err: unknown) => fail(x, err),
        );
      } catch (err) {
        fail(x, err);
      }
      return;
    }
    serve(x).then(
      (r) => {
        if (r && r.kind !== 'page' && r.kind !== 'vendor' && r.kind !== 'time' && r.kind !== 'healthz')
          outage.ok();
      },
      (err: unknown) => fail(x, err),
    );
  };

  return {
    handle,
    async listen(port, host, given) {
      const l = { ...DEFAULT_HTTP_LIMITS, ...given };
      const s = createServer(
        {
          headersTimeout: l.headersTimeoutMs,
          requestTimeout: Math.max(l.requestTimeoutMs, l.headersTimeoutMs),
          // How often Node checks the two timeouts above (its default, 30 s, would let them overrun by as much).
          connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(l.headersTimeoutMs / 4))),
        },
        handle,
      );
      s.keepAliveTimeout = l.keepAliveTimeoutMs;
      s.timeout = l.idleTimeoutMs;
      if (l.maxConnections > 0) s.maxConnections = l.maxConnections;
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ port, host, backlog: l.backlog }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      // Past listen: an accept error (EMFILE) on any handle is logged; the handle goes on accepting.
      s.on('error', (err) => log.error({ err }, 'reader: accepting a connection failed'));
      const refused = (): void => deps.metrics.readerRefused.inc();
      s.on('drop', refused);
      if (l.acceptors > 1) {
        try {
          const a = await addAcceptors(s, {
            total: l.acceptors,
            maxConnections: l.maxConnections,
            backlog: l.backlog,
            onDrop: refused,
          });
          // Closed while the copies were made: they stop too.
          if (server === s) acceptors = a;
          else await a.close();
        } catch (err) {
          log.warn({ err, acceptors: l.acceptors }, 'no extra acceptors: accepting one connection per turn');
        }
      }
      const a = s.address();
      const bound = typeof a === 'object' && a ? a.port : port;
      if (server === s) deps.metrics.readerAcceptHandles.set(acceptors?.count ?? 1); // not when closed meanwhile
      log.info({ host, port: bound, acceptors: acceptors?.count ?? 1 }, 'reader listening');
      return bound;
    },
    async close() {
      reads.close();
      const s = server;
      if (!s) return;
      server = undefined;
      // The extra handles stop accepting first; their connections are the server's, closed with its own.
      const extra = acceptors?.close();
      acceptors = undefined;
      deps.metrics.readerAcceptHandles.set(0);
      s.closeAllConnections();
      await Promise.all([new Promise<void>((r) => s.close(() => r())), extra]);
    },
  };
}
