/**
 * The reader: a thin, stateless HTTP server that serves playlists, MPDs and media from Redis to a CDN.
 * LL-HLS blocking playlist reloads, preload-hinted parts and in-progress segments (LL-DASH) are held and
 * released by events from the ingest and the manifest worker; nothing polls.
 */
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { blockingTimeoutMs, manifestName, objectName, publicPath } from '../core/index.js';
import type {
  EventBus,
  ManifestStore,
  MediaEvent,
  MediaStore,
  StoredManifest,
  StreamDirectory,
  StoreHealth,
} from '../store/ports.js';
import { CORS_HEADERS, type ObjectClass, cacheControl, contentType, parseRange } from './http-policy.js';
import { ByteLru } from './lru.js';
import { demoPage } from './page.js';
import { type Directives, type Route, directives, route } from './routes.js';

export interface ReaderOptions {
  store: { media: MediaStore; manifests: ManifestStore; streams: StreamDirectory; health: StoreHealth };
  events: EventBus;
  metrics: Metrics;
  log: Logger;
  /** In-process cache for immutable media, bytes. */
  cacheBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const hlsJs = ((): Buffer | undefined => {
  try {
    return readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
  } catch {
    return undefined;
  }
})();

export class Reader {
  private readonly lru: ByteLru;
  private readonly manifestReads = new Map<string, Promise<StoredManifest | undefined>>();
  private server: Server | undefined;
  private readonly log: Logger;

  constructor(private readonly o: ReaderOptions) {
    this.lru = new ByteLru(o.cacheBytes ?? 128 * 1024 * 1024);
    this.log = o.log.child({ component: 'reader' });
  }

  /** The request handler (also usable behind another server). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.serve(req, res).catch((err: unknown) => this.fail(res, err));
  };

  async listen(port: number, host: string): Promise<number> {
    this.server = createServer(this.handle);
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const a = this.server.address();
    const bound = typeof a === 'object' && a ? a.port : port;
    this.log.info({ host, port: bound }, 'reader listening');
    return bound;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') return this.end(res, 204, 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD, OPTIONS');
      return this.end(res, 405, 'no-store', 'method not allowed\n');
    }
    let url: URL;
    try {
      if (!req.url || req.url.length > 2048) throw new Error('bad url');
      url = new URL(req.url, 'http://reader');
    } catch {
      return this.end(res, 400, 'no-store', 'bad request\n');
    }
    let r: Route | undefined;
    try {
      r = route(decodeURIComponent(url.pathname));
    } catch {
      r = undefined;
    }
    if (!r) return this.end(res, 404, 'not-found', 'not found\n');
    switch (r.kind) {
      case 'page':
        return this.send(req, res, 200, 'no-store', 'text/html; charset=utf-8', Buffer.from(demoPage()));
      case 'vendor':
        if (!hlsJs) return this.end(res, 404, 'not-found');
        return this.send(req, res, 200, 'multivariant', contentType('x.js'), hlsJs);
      case 'time':
        // DASH UTCTiming urn:mpeg:dash:utc:http-iso:2014
        return this.send(
          req,
          res,
          200,
          'no-store',
          'text/plain; charset=utf-8',
          Buffer.from(new Date().toISOString()),
        );
      case 'healthz':
        return this.send(req, res, 200, 'no-store', 'text/plain; charset=utf-8', Buffer.from('ok\n'));
      case 'readyz':
        await this.o.store.health.ping();
        return this.send(req, res, 200, 'no-store', 'text/plain; charset=utf-8', Buffer.from('ready\n'));
      case 'metrics':
        return this.send(
          req,
          res,
          200,
          'no-store',
          this.o.metrics.registry.contentType,
          Buffer.from(await this.o.metrics.registry.metrics()),
        );
      case 'streams':
        return this.streams(req, res);
      case 'master':
        return this.playlist(req, res, r.stream, manifestName.master, 'multivariant');
      case 'mpd':
        return this.playlist(req, res, r.stream, r.file, 'mpd');
      case 'media-playlist': {
        if (r.file === 'dvr.m3u8')
          return this.playlist(req, res, r.stream, manifestName.dvr(r.rendition), 'dvr-playlist');
        const d = directives(url.searchParams);
        if ('error' in d) return this.end(res, 400, 'no-store', `${d.error}\n`);
        const name = d.skip ? manifestName.mediaSkip(r.rendition) : manifestName.media(r.rendition);
        if (d.msn === undefined) return this.playlist(req, res, r.stream, name, 'live-playlist');
        return this.blockingPlaylist(req, res, r.stream, r.rendition, name, d);
      }
      case 'object':
        return this.object(req, res, r);
    }
  }

  // ---- playlists ----

  /** Concurrent reads of one manifest share one Redis round trip (a fan-out of held requests wakes at once). */
  private readManifest(stream: string, name: string): Promise<StoredManifest | undefined> {
    const key = `${stream}/${name}`;
    const inflight = this.manifestReads.get(key);
    if (inflight) return inflight;
    const p = this.o.store.manifests.read(stream, name).finally(() => this.manifestReads.delete(key));
    this.manifestReads.set(key, p);
    return p;
  }

  private async playlist(
    req: IncomingMessage,
    res: ServerResponse,
    stream: string,
    name: string,
    cls: ObjectClass,
  ): Promise<void> {
    const m = await this.readManifest(stream, name);
    if (!m) return this.end(res, 404, 'not-found', 'not found\n');
    await this.sendManifest(req, res, stream, name, m, cls);
  }

  private async sendManifest(
    req: IncomingMessage,
    res: ServerResponse,
    stream: string,
    name: string,
    m: StoredManifest,
    cls: ObjectClass,
  ): Promise<void> {
    const etag = `"v${m.version}"`;
    res.setHeader('ETag', etag);
    if (m.renderedAt) res.setHeader('Last-Modified', new Date(m.renderedAt).toUTCString());
    const segSec = m.targetSec;
    if (req.headers['if-none-match'] === etag) return this.end(res, 304, cls, undefined, segSec);
    return this.send(req, res, 200, cls, contentType(name), Buffer.from(m.body), segSec);
  }

  /**
   * RFC 8216bis 6.2.5.2: hold a playlist request with _HLS_msn/_HLS_part until the playlist contains that part
   * (or a later one), woken by the manifest worker's event.
   */
  private async blockingPlaylist(
    req: IncomingMessage,
    res: ServerResponse,
    stream: string,
    rendition: string,
    name: string,
    d: Directives,
  ): Promise<void> {
    const M = d.msn!;
    const P = d.part;
    const satisfied = (pos: { msn: number; part: number } | undefined): boolean =>
      !!pos && (pos.msn > M || (pos.msn === M && P !== undefined && pos.part >= P));
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((r) => (wake = r));
    const sub = this.o.events.subscribe(stream, (ev) => {
      if (ev.t === 'manifest' && satisfied(ev.pos[rendition])) wake();
    });
    const stop = (): void => sub.close();
    try {
      await sub.ready;
      let m = await this.readManifest(stream, name);
      if (!m) return this.end(res, 404, 'not-found', 'not found\n');
      // "If the _HLS_msn is greater than the Media Sequence Number of the last Media Segment in the current
      // Playlist plus two ... the server SHOULD immediately return Bad Request" (RFC 8216bis 6.2.5.2).
      if (M > m.msn + 2)
        return this.end(res, 400, 'no-store', `_HLS_msn ${M} is too far ahead of ${m.msn}\n`);
      if (!satisfied(m)) {
        const outcome = await this.hold(req, woken, blockingTimeoutMs(m.targetSec));
        if (outcome === 'closed') return;
        if (outcome === 'timeout') {
          // "... it SHOULD return 503 if the request cannot be satisfied within three Target Durations."
          res.setHeader('Retry-After', '1');
          return this.end(res, 503, 'no-store', 'playlist did not reach the requested part in time\n');
        }
        m = await this.readManifest(stream, name);
        if (!m) return this.end(res, 404, 'not-found', 'not found\n');
      }
      await this.sendManifest(req, res, stream, name, m, 'blocking-playlist');
    } finally {
      stop();
    }
  }

  /** Waits for `until`, a timeout or the client going away. */
  private async hold(
    req: IncomingMessage,
    until: Promise<void>,
    timeoutMs: number,
  ): Promise<'ok' | 'timeout' | 'closed'> {
    let timer: NodeJS.Timeout | undefined;
    let onClose: () => void = () => undefined;
    const closed = new Promise<'closed'>((r) => {
      onClose = () => r('closed');
      req.socket.once('close', onClose);
    });
    try {
      return await Promise.race([
        until.then(() => 'ok' as const),
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
        closed,
      ]);
    } finally {
      clearTimeout(timer);
      req.socket.off('close', onClose);
    }
  }

  // ---- media objects ----

  private async getObject(stream: string, rendition: string, file: string): Promise<Buffer | null> {
    const key = `${stream}/${rendition}/${file}`;
    const hit = this.lru.get(key);
    if (hit) return hit;
    const b = await this.o.store.media.getObject(stream, rendition, file);
    if (b) this.lru.set(key, b);
    return b;
  }

  private async object(
    req: IncomingMessage,
    res: ServerResponse,
    r: Extract<Route, { kind: 'object' }>,
  ): Promise<void> {
    const buf = await this.getObject(r.stream, r.rendition, r.file);
    if (buf) return this.sendMedia(req, res, r, buf);
    if (req.method === 'HEAD' || r.objectKind === 'init')
      return this.end(res, 404, 'not-found', 'not found\n');
    const m = await this.readManifest(r.stream, manifestName.media(r.rendition));
    if (!m) return this.end(res, 404, 'not-found', 'not found\n');
    if (r.objectKind === 'part') return this.preloadPart(req, res, r, m);
    return this.inProgressSegment(req, res, r, m);
  }

  private sendMedia(
    req: IncomingMessage,
    res: ServerResponse,
    r: Extract<Route, { kind: 'object' }>,
    buf: Buffer,
  ): void {
    const etag = `"${buf.length.toString(16)}-${r.file}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Accept-Ranges', 'bytes');
    if (req.headers['if-none-match'] === etag) return this.end(res, 304, 'media');
    const range = parseRange(req.headers.range, buf.length);
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${buf.length}`);
      return this.end(res, 416, 'no-store');
    }
    if (range) {
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${buf.length}`);
      return this.send(
        req,
        res,
        206,
        'media',
        contentType(r.file, r.rendition),
        buf.subarray(range.start, range.end + 1),
      );
    }
    return this.send(req, res, 200, 'media', contentType(r.file, r.rendition), buf);
  }

  /**
   * A request for the part named by EXT-X-PRELOAD-HINT (or the one after): held until the ingest announces it,
   * then answered with its bytes. A part that turns out not to exist (its segment closed first) is a 404.
   */
  private async preloadPart(
    req: IncomingMessage,
    res: ServerResponse,
    r: Extract<Route, { kind: 'object' }>,
    m: StoredManifest,
  ): Promise<void> {
    const ahead =
      r.msn === m.msn ? r.part - m.part : r.msn === m.msn + 1 ? r.part + 1 : Number.POSITIVE_INFINITY;
    if (!(ahead >= 1 && ahead <= 2)) return this.end(res, 404, 'not-found', 'not found\n');
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((w) => (wake = w));
    const sub = this.o.events.subscribe(r.stream, (ev) => {
      if (ev.t === 'manifest' || !('r' in ev) || ev.r !== r.rendition) return;
      if (
        (ev.t === 'part' && ev.msn === r.msn && ev.i === r.part) ||
        (ev.t === 'seg' && ev.msn >= r.msn) ||
        (ev.t === 'part' && ev.msn > r.msn)
      )
        wake();
    });
    const stop = (): void => sub.close();
    try {
      await sub.ready;
      let buf = await this.getObject(r.stream, r.rendition, r.file);
      if (!buf) {
        const outcome = await this.hold(req, woken, blockingTimeoutMs(m.targetSec));
        if (outcome === 'closed') return;
        buf = await this.getObject(r.stream, r.rendition, r.file);
      }
      if (!buf) return this.end(res, 404, 'not-found', 'not found\n');
      this.sendMedia(req, res, r, buf);
    } finally {
      stop();
    }
  }

  /**
   * LL-DASH: a segment requested while it is still being filled is sent chunk by chunk (chunked transfer) as
   * each part lands, and completed when the segment closes. Only the open segment or the next one qualify.
   */
  private async inProgressSegment(
    req: IncomingMessage,
    res: ServerResponse,
    r: Extract<Route, { kind: 'object' }>,
    m: StoredManifest,
  ): Promise<void> {
    if (r.msn !== m.msn && r.msn !== m.msn + 1) return this.end(res, 404, 'not-found', 'not found\n');
    const events: MediaEvent[] = [];
    let notify: () => void = () => undefined;
    const sub = this.o.events.subscribe(r.stream, (ev) => {
      if (ev.t !== 'manifest' && ev.r === r.rendition && ev.msn >= r.msn) {
        events.push(ev);
        notify();
      }
    });
    const stop = (): void => sub.close();
    let written = 0;
    let nextPart = 0;
    let headersSent = false;
    const start = (): void => {
      if (headersSent) return;
      headersSent = true;
      res.writeHead(200, {
        'Content-Type': contentType(r.file, r.rendition),
        'Cache-Control': cacheControl('media'),
      });
      res.flushHeaders();
    };
    const writeParts = async (upTo: number): Promise<void> => {
      for (; nextPart <= upTo; nextPart++) {
        const p = await this.getObject(r.stream, r.rendition, objectName.part(r.msn, nextPart));
        if (!p) throw new HttpError(503, `part ${r.msn}.${nextPart} missing`);
        start();
        res.write(p);
        written += p.length;
      }
    };
    try {
      await sub.ready;
      const whole = await this.getObject(r.stream, r.rendition, r.file);
      if (whole) return this.sendMedia(req, res, r, whole);
      const open = await this.o.store.media.getOpenEntry(r.stream, r.rendition);
      if (open && open.msn === r.msn && open.parts.length > 0) await writeParts(open.parts.length - 1);
      const deadline = Date.now() + blockingTimeoutMs(m.targetSec) + 2000;
      for (;;) {
        while (events.length > 0) {
          const ev = events.shift()!;
          if (ev.t === 'part' && ev.msn === r.msn) await writeParts(ev.i);
          else if (ev.t === 'seg' && ev.msn === r.msn) {
            const seg = await this.getObject(r.stream, r.rendition, r.file);
            if (!seg) throw new HttpError(503, 'segment vanished');
            start();
            res.end(seg.subarray(written));
            return;
          } else if (ev.t !== 'manifest' && ev.msn > r.msn && !headersSent) {
            // The segment was never started here (the stream moved on): nothing to stream.
            return this.end(res, 404, 'not-found', 'not found\n');
          }
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        const outcome = await this.hold(req, new Promise<void>((w) => (notify = w)), remaining);
        if (outcome === 'closed') return;
      }
      if (!headersSent) return this.end(res, 404, 'not-found', 'not found\n');
      res.destroy(); // incomplete: never let a cache keep a truncated segment
    } finally {
      stop();
    }
  }

  // ---- misc ----

  private async streams(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const list = await this.o.store.streams.list(100);
    const body = {
      streams: list.map((s) => ({
        name: s.name,
        updatedAt: new Date(s.updatedAt).toISOString(),
        state: s.state,
        hls: publicPath.master(s.name),
        dash: publicPath.mpd(s.name),
        llDash: publicPath.mpdLowLatency(s.name),
      })),
    };
    return this.send(req, res, 200, 'no-store', 'application/json', Buffer.from(JSON.stringify(body)));
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    cls: ObjectClass,
    type: string,
    body: Buffer,
    segSec?: number,
  ): void {
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', cacheControl(cls, segSec));
    res.setHeader('Content-Length', body.length);
    this.o.metrics.httpRequests.inc({ class: cls, status });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private end(res: ServerResponse, status: number, cls: ObjectClass, text?: string, segSec?: number): void {
    res.statusCode = status;
    res.setHeader('Cache-Control', cacheControl(cls, segSec));
    this.o.metrics.httpRequests.inc({ class: cls, status });
    if (text && status !== 304 && status !== 204) {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(text));
      res.end(text);
    } else res.end();
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) return this.end(res, err.status, 'no-store', `${err.message}\n`);
    // Redis unreachable or slow: a quick 503, never a hang and never a stale playlist.
    this.o.metrics.redisErrors.inc({ component: 'reader' });
    this.log.warn({ err: (err as Error).message }, 'request failed');
    res.setHeader('Retry-After', '1');
    this.end(res, 503, 'no-store', 'origin storage unavailable\n');
  }
}
