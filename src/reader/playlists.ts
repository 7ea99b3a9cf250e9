/**
 * Playlists and MPDs: served as stored (versioned, with ETag and Last-Modified), and LL-HLS blocking reloads
 * (RFC 8216bis 6.2.5.2) held until the manifest worker announces a render that contains the requested part.
 *
 * The release path is built for a thousand viewers waiting on one part: held reloads of a stream wait in one
 * waiting room (one event listener, not one per request); a manifest event that satisfies some of them is
 * answered by one store read per manifest name and one synchronous loop that writes the same prepared Buffer
 * and headers to every satisfied response (no per-request promise chain, copy, timer or date formatting).
 */
import { Histogram } from 'prom-client';
import { blockingTimeoutMs } from '../core/index.js';
import type { Metrics } from '../metrics.js';
import type { EventBus, ManifestStore, MediaEvent, StoredManifest, Subscription } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { type ObjectClass, contentType } from './http-policy.js';
import { type Exchange, send, sendEmpty } from './respond.js';
import type { Directives } from './routes.js';

/** Concurrent reads of one manifest share one store round trip (a fan-out of held requests wakes at once). */
export class ManifestReads {
  private readonly inflight = new Map<string, Promise<StoredManifest | undefined>>();
  constructor(private readonly manifests: ManifestStore) {}

  read(stream: string, name: string): Promise<StoredManifest | undefined> {
    const key = `${stream}/${name}`;
    return this.inflight.get(key) ?? this.start(key, stream, name);
  }

  /**
   * A read started now (never one already in flight, which may predate what was just announced); reads that
   * come after it share it.
   */
  fresh(stream: string, name: string): Promise<StoredManifest | undefined> {
    return this.start(`${stream}/${name}`, stream, name);
  }

  private start(key: string, stream: string, name: string): Promise<StoredManifest | undefined> {
    const p = this.manifests.read(stream, name).finally(() => {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    });
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

/** How a held reload ended: answered by the room, or why not. */
type Outcome = 'sent' | 'timeout' | 'closed' | { error: unknown };

/** One held reload. `settle` is called once; `pending` is false afterwards. */
interface Waiter {
  x: Exchange;
  rendition: string;
  name: string;
  msn: number;
  part: number | undefined;
  pending: boolean;
  done: Promise<Outcome>;
  settle(o: Outcome): void;
}

/** The held reloads of one stream and its one subscription. */
interface Room {
  stream: string;
  waiters: Set<Waiter>;
  sub: Subscription;
}

const satisfies = (w: Waiter, pos: { msn: number; part: number } | undefined): boolean =>
  !!pos && (pos.msn > w.msn || (pos.msn === w.msn && w.part !== undefined && pos.part >= w.part));

export class Playlists {
  private readonly rooms = new Map<string, Room>();

  constructor(private readonly d: PlaylistDeps) {}

  async serve(x: Exchange, stream: string, name: string, cls: ObjectClass): Promise<void> {
    const m = await this.d.reads.require(stream, name);
    sendManifest(x, name, m, cls);
  }

  /** Blocking reloads held right now (all streams). */
  get held(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.waiters.size;
    return n;
  }

  /**
   * Holds a reload with _HLS_msn/_HLS_part until the playlist contains that part or a later one, for at most
   * three target durations of the playlist being served (then 503, as RFC 8216bis 6.2.5.2 asks).
   */
  async blocking(x: Exchange, b: BlockingRequest): Promise<void> {
    const M = b.directives.msn;
    let m = await this.d.reads.require(b.stream, b.name);
    // "If the _HLS_msn is greater than the Media Sequence Number of the last Media Segment in the current
    // Playlist plus two ... the server SHOULD immediately return Bad Request".
    if (M > m.msn + 2)
      throw new ReaderError('MSN_TOO_FAR_AHEAD', `_HLS_msn ${M} is too far ahead of ${m.msn}`);
    const w = waiter(x, b);
    if (satisfies(w, m)) return sendManifest(x, b.name, m, 'blocking-playlist');
    if (x.res.destroyed) return;
    const room = this.enter(b.stream, w);
    const timer = setTimeout(() => w.settle('timeout'), blockingTimeoutMs(m.targetSec));
    const onClose = (): void => w.settle('closed');
    x.res.once('close', onClose);
    try {
      // Subscribed: a render announced from now on reaches the room, so a check of the store now cannot miss one.
      const first = await Promise.race([room.sub.ready.then(() => 'ready' as const), w.done]);
      let outcome: Outcome;
      if (first === 'ready') {
        m = await this.d.reads.require(b.stream, b.name).catch((error: unknown) => {
          w.settle({ error });
          return m;
        });
        if (w.pending && satisfies(w, m)) {
          w.settle('sent');
          sendManifest(x, b.name, m, 'blocking-playlist');
        }
        outcome = await w.done;
      } else outcome = first;
      if (outcome === 'timeout') throw new ReaderError('BLOCKING_TIMEOUT');
      if (typeof outcome === 'object') throw outcome.error;
    } finally {
      w.settle('closed'); // no-op when settled
      clearTimeout(timer);
      x.res.off('close', onClose);
      this.leave(room, w);
    }
  }

  private enter(stream: string, w: Waiter): Room {
    let room = this.rooms.get(stream);
    if (!room) {
      const waiters = new Set<Waiter>();
      const r: Room = { stream, waiters, sub: undefined as unknown as Subscription };
      r.sub = this.d.events.subscribe(stream, (ev) => this.release(r, ev));
      // A failed subscription fails every request waiting on it (each sees it from sub.ready); the next one retries.
      r.sub.ready.catch(() => {
        if (this.rooms.get(stream) === r) this.rooms.delete(stream);
      });
      this.rooms.set(stream, r);
      room = r;
    }
    room.waiters.add(w);
    return room;
  }

  private leave(room: Room, w: Waiter): void {
    room.waiters.delete(w);
    if (room.waiters.size > 0) return;
    if (this.rooms.get(room.stream) === room) this.rooms.delete(room.stream);
    room.sub.close();
  }

  /** A manifest event: every waiter it satisfies is answered from one fresh read per manifest name, in one loop. */
  private release(room: Room, ev: MediaEvent): void {
    if (ev.t !== 'manifest') return;
    const heard = performance.now();
    let byName: Map<string, Waiter[]> | undefined;
    for (const w of room.waiters) {
      if (!w.pending || !satisfies(w, ev.pos[w.rendition])) continue;
      byName ??= new Map();
      const list = byName.get(w.name);
      if (list) list.push(w);
      else byName.set(w.name, [w]);
    }
    if (!byName) return;
    for (const [name, ws] of byName) {
      this.d.reads.fresh(room.stream, name).then(
        (m) => {
          if (!m) {
            for (const w of ws) w.settle({ error: new ReaderError('NOT_FOUND') });
            return;
          }
          let sent = 0;
          for (const w of ws) {
            // Still waiting, and the stored render does reach its part (an older one keeps it waiting).
            if (!w.pending || !satisfies(w, m)) continue;
            w.settle('sent');
            sendManifest(w.x, name, m, 'blocking-playlist');
            sent++;
          }
          if (sent > 0) releaseSeconds(ws[0]!.x.metrics).observe((performance.now() - heard) / 1000);
        },
        (error: unknown) => {
          for (const w of ws) w.settle({ error });
        },
      );
    }
  }
}

function waiter(x: Exchange, b: BlockingRequest): Waiter {
  let resolve!: (o: Outcome) => void;
  const w: Waiter = {
    x,
    rendition: b.rendition,
    name: b.name,
    msn: b.directives.msn,
    part: b.directives.part,
    pending: true,
    done: new Promise<Outcome>((r) => (resolve = r)),
    settle(o) {
      if (!w.pending) return;
      w.pending = false;
      resolve(o);
    },
  };
  return w;
}

/** What every answer from one stored manifest shares: the body as bytes, its validators. */
interface Prepared {
  body: Buffer;
  etag: string;
  lastModified: string | undefined;
}

const prepared = new WeakMap<StoredManifest, Prepared>();

function prepare(m: StoredManifest): Prepared {
  let p = prepared.get(m);
  if (!p) {
    p = {
      body: Buffer.from(m.body),
      etag: `"v${m.version}"`,
      lastModified: m.renderedAt ? new Date(m.renderedAt).toUTCString() : undefined,
    };
    prepared.set(m, p);
  }
  return p;
}

function sendManifest(x: Exchange, name: string, m: StoredManifest, cls: ObjectClass): void {
  const p = prepare(m);
  x.res.setHeader('ETag', p.etag);
  if (p.lastModified) x.res.setHeader('Last-Modified', p.lastModified);
  if (x.req.headers['if-none-match'] === p.etag)
    return sendEmpty(x, { status: 304, cls, targetSec: m.targetSec });
  send(x, { cls, type: contentType(name), body: p.body, targetSec: m.targetSec });
}

/**
 * wellspring_blocking_release_seconds: from a manifest event reaching this reader to the last held reload it
 * satisfied being written (one observation per release batch). Registered on the reader's own registry.
 */
const releaseHistograms = new WeakMap<Metrics, Histogram>();
function releaseSeconds(metrics: Metrics): Histogram {
  let h = releaseHistograms.get(metrics);
  if (!h) {
    h = new Histogram({
      name: 'wellspring_blocking_release_seconds',
      help: 'Manifest event heard -> every blocking reload it satisfied written (per release batch)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers: [metrics.registry],
    });
    releaseHistograms.set(metrics, h);
  }
  return h;
}
