/**
 * Playlists and MPDs: served as stored (versioned, with ETag and Last-Modified), and LL-HLS blocking reloads
 * (RFC 8216bis 6.2.5.2) held until the manifest worker announces a render that contains the requested part.
 */
import { blockingTimeoutMs } from '../core/index.js';
import type { EventBus, ManifestStore, StoredManifest } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { type ObjectClass, contentType } from './http-policy.js';
import { type Exchange, send, sendEmpty } from './respond.js';
import type { Directives } from './routes.js';
import { watchEvents } from './waits.js';

/** Concurrent reads of one manifest share one store round trip (a fan-out of held requests wakes at once). */
export class ManifestReads {
  private readonly inflight = new Map<string, Promise<StoredManifest | undefined>>();
  constructor(private readonly manifests: ManifestStore) {}

  read(stream: string, name: string): Promise<StoredManifest | undefined> {
    const key = `${stream}/${name}`;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.manifests.read(stream, name).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** As read, but a missing manifest is a 404. */
  async require(stream: string, name: string): Promise<StoredManifest> {
    const m = await this.read(stream, name);
    if (!m) throw new ReaderError('NOT_FOUND');
    return m;
  }
}

export interface PlaylistDeps {
  reads: ManifestReads;
  events: EventBus;
}

export interface BlockingRequest {
  stream: string;
  rendition: string;
  /** Manifest name (manifestName.media or mediaSkip). */
  name: string;
  directives: Directives & { msn: number };
}

export class Playlists {
  constructor(private readonly d: PlaylistDeps) {}

  async serve(x: Exchange, stream: string, name: string, cls: ObjectClass): Promise<void> {
    const m = await this.d.reads.require(stream, name);
    sendManifest(x, name, m, cls);
  }

  /**
   * Holds a reload with _HLS_msn/_HLS_part until the playlist contains that part or a later one, for at most
   * three target durations of the playlist being served (then 503, as RFC 8216bis 6.2.5.2 asks).
   */
  async blocking(x: Exchange, b: BlockingRequest): Promise<void> {
    const M = b.directives.msn;
    const P = b.directives.part;
    const satisfied = (pos: { msn: number; part: number } | undefined): boolean =>
      !!pos && (pos.msn > M || (pos.msn === M && P !== undefined && pos.part >= P));
    let m = await this.d.reads.require(b.stream, b.name);
    // "If the _HLS_msn is greater than the Media Sequence Number of the last Media Segment in the current
    // Playlist plus two ... the server SHOULD immediately return Bad Request".
    if (M > m.msn + 2)
      throw new ReaderError('MSN_TOO_FAR_AHEAD', `_HLS_msn ${M} is too far ahead of ${m.msn}`);
    if (satisfied(m)) return sendManifest(x, b.name, m, 'blocking-playlist');
    const w = watchEvents({
      events: this.d.events,
      stream: b.stream,
      match: (ev) => ev.t === 'manifest' && satisfied(ev.pos[b.rendition]),
      timeoutMs: blockingTimeoutMs(m.targetSec),
      res: x.res,
    });
    try {
      let woke = await w.ready();
      for (;;) {
        if (woke === 'closed') return;
        if (woke === 'timeout') throw new ReaderError('BLOCKING_TIMEOUT');
        // Subscribed: a render from now on wakes us, so a check of the store now cannot miss one.
        m = await this.d.reads.require(b.stream, b.name);
        if (satisfied(m)) return sendManifest(x, b.name, m, 'blocking-playlist');
        const ev = await w.next();
        woke = typeof ev === 'string' ? ev : 'ready';
      }
    } finally {
      w.close();
    }
  }
}

function sendManifest(x: Exchange, name: string, m: StoredManifest, cls: ObjectClass): void {
  const etag = `"v${m.version}"`;
  x.res.setHeader('ETag', etag);
  if (m.renderedAt) x.res.setHeader('Last-Modified', new Date(m.renderedAt).toUTCString());
  if (x.req.headers['if-none-match'] === etag)
    return sendEmpty(x, { status: 304, cls, targetSec: m.targetSec });
  send(x, { cls, type: contentType(name), body: m.body, targetSec: m.targetSec });
}
