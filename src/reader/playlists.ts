/**
 * Playlists and MPDs: served as stored (versioned, with ETag and Last-Modified), and LL-HLS blocking reloads
 * (RFC 8216bis 6.2.5.2) held until the manifest worker announces a render that contains the requested part.
 *
 * Every stored render is prepared once (its bytes, ETag and header list per cache class, respond.ts): reads
 * that return the same render return the same object (ManifestReads interns them), so a request costs a store
 * read and one writeHead + end, and a 304 costs the comparison. With `manifestCacheMs` > 0 a plain playlist
 * request does not even read the store: the render read last is kept until the stream's next manifest event
 * (or manifestCacheMs, whichever comes first; decision 016).
 *
 * The release path is built for a thousand viewers waiting on one part: held reloads of a stream wait in one
 * waiting room (one event listener, not one per request); a manifest event that satisfies some of them is
 * answered by one store read per manifest name and one synchronous loop that writes the same prepared Buffer
 * and header list to every satisfied response (no per-request promise chain, copy, timer or date formatting).
 */
import { blockingTimeoutMs } from '../core/index.js';
import type { EventBus, ManifestStore, MediaEvent, StoredManifest, Subscription } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { type ObjectClass, contentType } from './http-policy.js';
import {
  type Exchange,
  type PreparedBody,
  type Tally,
  countAnswers,
  prepareBody,
  sendPrepared,
} from './respond.js';
import { ReleaseClock } from './release.js';
import type { Directives } from './routes.js';

const DONE: Promise<void> = Promise.resolve();
/** Renders remembered for interning (one per stream and manifest name; the oldest forgotten first). */
const INTERNED_MAX = 4096;
/** A stream's cache subscription is closed after this long without a request. */
const WATCH_IDLE_MS = 30_000;

/** One stream's manifest cache: live while subscribed, emptied by every manifest event of the stream. */
interface StreamWatch {
  sub: Subscription;
  ready: boolean;
  /** Manifest events heard so far: a read started before the last one must not be kept. */
  gen: number;
  usedAt: number;
  entries: Map<string, { m: StoredManifest; at: number }>;
  loading: Map<string, { gen: number; p: Promise<StoredManifest | undefined> }>;
}

/**
 * Manifest reads. Concurrent reads of one manifest share one store round trip (a fan-out of held requests wakes
 * at once); a read that returns the render already known returns the same object, so what was prepared for it
 * is reused. `current` may answer from the per-stream cache (manifestCacheMs > 0).
 */
export class ManifestReads {
  private readonly inflight = new Map<string, Promise<StoredManifest | undefined>>();
  private readonly interned = new Map<string, StoredManifest>();
  private readonly watches = new Map<string, StreamWatch>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly manifests: ManifestStore,
    private readonly cache: { events?: EventBus; maxAgeMs?: number } = {},
  ) {}

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
    const p = this.manifests
      .read(stream, name)
      .then((m) => (m ? this.intern(key, m) : m))
      .finally(() => {
        if (this.inflight.get(key) === p) this.inflight.delete(key);
      });
    this.inflight.set(key, p);
    return p;
  }

  /** The object already known for this render, or this one remembered as the render of its name. */
  private intern(key: string, m: StoredManifest): StoredManifest {
    const known = this.interned.get(key);
    if (
      known &&
      known.version === m.version &&
      known.renderedAt === m.renderedAt &&
      known.msn === m.msn &&
      known.part === m.part &&
      known.targetSec === m.targetSec &&
      known.body === m.body
    )
      return known;
    this.interned.delete(key);
    this.interned.set(key, m);
    if (this.interned.size > INTERNED_MAX) this.interned.delete(this.interned.keys().next().value!);
    return m;
  }

  /** As read, but a missing manifest is a 404. */
  async require(stream: string, name: string): Promise<StoredManifest> {
    const m = await this.read(stream, name);
    if (!m) throw new ReaderError('NOT_FOUND');
    return m;
  }

  /**
   * The manifest for a plain (non-blocking) request: the cached render when the cache is on, the stream's
   * subscription is live, no manifest event came since it was read and it is younger than maxAgeMs; else a read
   * (kept for the next request when no event came while it ran). A missing manifest is a 404.
   */
  /**
   * The cached render of a plain request when it is current (cache on, subscription live before it was read,
   * no manifest event of the stream since, younger than maxAgeMs), without waiting; else undefined (then
   * `current`). The reader's fast lane answers from it synchronously.
   */
  peek(stream: string, name: string): StoredManifest | undefined {
    const maxAgeMs = this.cache.maxAgeMs ?? 0;
    if (maxAgeMs <= 0) return undefined;
    const w = this.watches.get(stream);
    if (!w) return undefined;
    const e = w.entries.get(name);
    if (!e) return undefined;
    const now = performance.now();
    if (now - e.at >= maxAgeMs) return undefined;
    w.usedAt = now;
    return e.m;
  }

  current(stream: string, name: string): Promise<StoredManifest> {
    const maxAgeMs = this.cache.maxAgeMs ?? 0;
    if (maxAgeMs <= 0 || !this.cache.events)
      // One promise step: a plain request on the uncached path shares the read in flight.
      return this.read(stream, name).then(found);
    return this.cached(stream, name, maxAgeMs);
  }

  private async cached(stream: string, name: string, maxAgeMs: number): Promise<StoredManifest> {
    const now = performance.now();
    const w = this.watch(stream, now);
    const e = w.entries.get(name);
    if (e && now - e.at < maxAgeMs) return e.m;
    let l = w.loading.get(name);
    if (!l || l.gen !== w.gen) {
      const gen = w.gen;
      const ready = w.ready;
      const at = now;
      const p: Promise<StoredManifest | undefined> = this.fresh(stream, name).then(
        (m) => {
          if (w.loading.get(name)?.p === p) w.loading.delete(name);
          // Kept only when the subscription was live before the read began and no event came since.
          if (m && ready && w.gen === gen && this.watches.get(stream) === w) w.entries.set(name, { m, at });
          return m;
        },
        (err: unknown) => {
          // A failed read is never joined by later requests: the next one asks the store again.
          if (w.loading.get(name)?.p === p) w.loading.delete(name);
          throw err;
        },
      );
      l = { gen, p };
      w.loading.set(name, l);
    }
    const m = await l.p;
    if (!m) throw new ReaderError('NOT_FOUND');
    return m;
  }

  private watch(stream: string, now: number): StreamWatch {
    const w = this.watches.get(stream);
    if (w) {
      w.usedAt = now;
      return w;
    }
    const nw: StreamWatch = {
      sub: undefined as unknown as Subscription,
      ready: false,
      gen: 0,
      usedAt: now,
      entries: new Map(),
      loading: new Map(),
    };
    nw.sub = this.cache.events!.subscribe(stream, (ev: MediaEvent) => {
      if (ev.t !== 'manifest') return;
      nw.gen++;
      nw.entries.clear();
    });
    nw.sub.ready.then(
      () => (nw.ready = true),
      () => this.unwatch(stream, nw),
    );
    this.watches.set(stream, nw);
    this.sweep ??= setInterval(() => this.sweepIdle(), WATCH_IDLE_MS / 3).unref();
    return nw;
  }

  private unwatch(stream: string, w: StreamWatch): void {
    if (this.watches.get(stream) === w) this.watches.delete(stream);
    w.entries.clear();
    w.gen++;
    w.sub.close();
  }

  private sweepIdle(): void {
    const now = performance.now();
    for (const [stream, w] of this.watches) if (now - w.usedAt > WATCH_IDLE_MS) this.unwatch(stream, w);
    if (this.watches.size === 0 && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /** Streams whose manifests are cached (tests, metrics). */
  get watched(): number {
    return this.watches.size;
  }

  close(): void {
    for (const [stream, w] of this.watches) this.unwatch(stream, w);
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
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

  serve(x: Exchange, stream: string, name: string, cls: ObjectClass): Promise<void> {
    if (this.serveNow(x, stream, name, cls)) return DONE;
    return this.d.reads.current(stream, name).then((m) => sendManifest(x, name, m, cls));
  }

  /**
   * A plain request answered now from the manifest cache, when it holds the current render (true); false
   * when the render must be read (then `serve`).
   */
  serveNow(x: Exchange, stream: string, name: string, cls: ObjectClass): boolean {
    const m = this.d.reads.peek(stream, name);
    if (!m) return false;
    sendManifest(x, name, m, cls);
    return true;
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
          const p = prepared(name, m, 'blocking-playlist');
          const metrics = ws[0]!.x.metrics;
          const tally: Tally = { ok: 0, notModified: 0 };
          const clock = new ReleaseClock(metrics, heard); // per-reload write times (release.ts)
          for (const w of ws) {
            // Still waiting, and the stored render does reach its part (an older one keeps it waiting).
            if (!w.pending || !satisfies(w, m)) continue;
            w.settle('sent');
            sendPrepared(w.x, p, tally); // counted once for the batch, below
            clock.written(w.x.res);
          }
          clock.end();
          countAnswers(metrics, p.cls, tally);
          if (tally.ok + tally.notModified > 0)
            metrics.blockingRelease.observe((performance.now() - heard) / 1000);
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

/** A read's result for a request that needs the manifest: a missing one is a 404. */
function found(m: StoredManifest | undefined): StoredManifest {
  if (!m) throw new ReaderError('NOT_FOUND');
  return m;
}

/** The answers prepared for a stored render, per cache class (built on first use, kept as long as the render). */
const preparedAnswers = new WeakMap<StoredManifest, Map<ObjectClass, PreparedBody>>();

function prepared(name: string, m: StoredManifest, cls: ObjectClass): PreparedBody {
  let byCls = preparedAnswers.get(m);
  if (!byCls) preparedAnswers.set(m, (byCls = new Map()));
  let p = byCls.get(cls);
  if (!p) {
    // One Buffer per render, shared by its classes.
    const body = byCls.values().next().value?.body ?? Buffer.from(m.body);
    p = prepareBody({
      body,
      etag: `"v${m.version}"`,
      cls,
      type: contentType(name),
      targetSec: m.targetSec,
      lastModified: m.renderedAt ? new Date(m.renderedAt).toUTCString() : undefined,
    });
    byCls.set(cls, p);
  }
  return p;
}

function sendManifest(x: Exchange, name: string, m: StoredManifest, cls: ObjectClass): void {
  sendPrepared(x, prepared(name, m, cls));
}
