/**
 * Media objects (init segments, segments, parts): immutable, served from an in-process LRU or the store, with
 * ranges and ETags. Two kinds of request wait for media that is not there yet:
 * - the part named by EXT-X-PRELOAD-HINT (or the one after), held until the ingest announces it;
 * - LL-DASH: a segment still being filled, streamed chunk by chunk as its parts land, completed when it closes.
 */
import { blockingTimeoutMs, manifestName, objectName } from '../core/index.js';
import type { EventBus, MediaStore, StoredManifest } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { contentType, parseRange } from './http-policy.js';
import { ByteLru } from './lru.js';
import type { ManifestReads } from './playlists.js';
import { type Exchange, type PreparedBody, prepareBody, send, sendPrepared, startStream } from './respond.js';
import type { Route } from './routes.js';
import { watchEvents } from './waits.js';

export type ObjectRoute = Extract<Route, { kind: 'object' }>;

export interface MediaDeps {
  media: MediaStore;
  events: EventBus;
  reads: ManifestReads;
  /** In-process cache for immutable media, bytes. */
  cacheBytes: number;
}

/** A store read of one object: sentAt is undefined until it is sent (see MediaObjects.get). */
interface Flight {
  sentAt: number | undefined;
  p: Promise<CachedObject | undefined>;
}

/** A stored object with its answer built once (ETag, header list): what the in-process cache keeps. */
interface CachedObject {
  readonly bytes: number;
  readonly type: string;
  readonly answer: PreparedBody;
}

export class MediaObjects {
  private readonly lru: ByteLru<CachedObject>;
  /** Store reads pending or in flight, by object, with when each was sent (performance.now()): see get(). */
  private readonly flights = new Map<string, Flight>();

  constructor(private readonly d: MediaDeps) {
    this.lru = new ByteLru<CachedObject>(d.cacheBytes);
  }

  /** Bytes and entries held by the in-process cache (metrics, benchmarks). */
  get cached(): { bytes: number; objects: number } {
    return { bytes: this.lru.size, objects: this.lru.count };
  }

  async serve(x: Exchange, r: ObjectRoute): Promise<void> {
    const o = await this.get(r);
    if (o) return sendObject(x, o);
    if (x.req.method === 'HEAD' || r.objectKind === 'init') throw new ReaderError('NOT_FOUND');
    const m = await this.d.reads.require(r.stream, manifestName.media(r.rendition));
    if (r.objectKind === 'part') return this.preloadPart(x, r, m);
    return this.inProgressSegment(x, r, m);
  }

  /**
   * The object with its prepared answer: from the cache, or read from the store once and prepared once. A caller
   * shares a read sent at or after its `since`, so a shared read never answers "missing" for an object stored
   * before that moment.
   * - Without `since` (the caller's moment is now: a request on arrival, or once its watch is live) the read is
   *   sent at the end of the loop turn (setImmediate) and every caller of that turn joins it. Under load the
   *   requests for a part not there yet arrive together, each player's next request following the same
   *   announcement (about a thousand in one turn at 1,000 players), and cost one read instead of two each. The
   *   price: the read waits for the rest of the turn (the whole next one when asked from an immediate), so on a
   *   busy loop its reply tends to be read a turn later than if it had been sent at once; and one failed read
   *   fails every request that joined it.
   * - With `since` (when a waiter heard the event that released it, a moment already past) it is sent at once:
   *   the waiters one event released continue one after another, each joining the read the first one sent,
   *   after all of them had heard the event.
   */
  private get(r: ObjectRoute, since?: number): Promise<CachedObject | undefined> {
    const key = `${r.stream}/${r.rendition}/${r.file}`;
    const hit = this.lru.get(key);
    if (hit) return Promise.resolve(hit);
    const f = this.flights.get(key);
    if (f && (f.sentAt === undefined || f.sentAt >= (since ?? performance.now()))) return f.p;
    const send = (): Promise<CachedObject | undefined> => {
      flight.sentAt = performance.now();
      // Another read may have brought it meanwhile (immutable: any copy is the object).
      const cached = this.lru.get(key);
      return cached ? Promise.resolve(cached) : this.load(key, r);
    };
    const flight: Flight = { sentAt: undefined, p: undefined as unknown as Flight['p'] };
    flight.p = since === undefined ? new Promise<void>((go) => setImmediate(go)).then(send) : send();
    this.flights.set(key, flight);
    const forget = (): void => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.p.then(forget, forget);
    return flight.p;
  }

  private async load(key: string, r: ObjectRoute): Promise<CachedObject | undefined> {
    const b = await this.d.media.getObject(r.stream, r.rendition, r.file);
    if (!b) return undefined;
    const type = contentType(r.file, r.rendition);
    const o: CachedObject = {
      bytes: b.length,
      type,
      answer: prepareBody({
        body: b,
        etag: `"${b.length.toString(16)}-${r.file}"`,
        cls: 'media',
        type,
        acceptRanges: true,
      }),
    };
    this.lru.set(key, o);
    return o;
  }

  /** Bytes of another object of the same rendition (a part of a segment being streamed). */
  private async bytesOf(r: ObjectRoute, file: string): Promise<Buffer | undefined> {
    return (await this.get({ ...r, file }))?.answer.body;
  }

  /** The hinted part (or the one after it), answered once announced; one that never comes is a 404. */
  private async preloadPart(x: Exchange, r: ObjectRoute, m: StoredManifest): Promise<void> {
    const ahead =
      r.msn === m.msn ? r.part - m.part : r.msn === m.msn + 1 ? r.part + 1 : Number.POSITIVE_INFINITY;
    if (ahead <= 0) {
      // The playlist read after the miss already lists this part: it landed in between (bytes before
      // references), so it is there now. A 404 here would be cached by the CDN for a part the playlist names.
      const landed = await this.get(r);
      if (landed) return sendObject(x, landed);
    }
    if (!(ahead >= 1 && ahead <= 2)) throw new ReaderError('NOT_FOUND');
    const w = watchEvents({
      events: this.d.events,
      stream: r.stream,
      // This part, or anything that shows it will never come (its segment closed, a later segment's part).
      match: (ev) =>
        ev.t !== 'manifest' &&
        ev.r === r.rendition &&
        ((ev.t === 'part' && ev.msn === r.msn && ev.i === r.part) ||
          (ev.t === 'seg' && ev.msn >= r.msn) ||
          (ev.t === 'part' && ev.msn > r.msn)),
      timeoutMs: blockingTimeoutMs(m.targetSec),
      res: x.res,
    });
    try {
      const ready = await w.ready();
      if (ready === 'closed') return;
      let buf = await this.get(r);
      let timedOut = ready === 'timeout';
      if (!buf && ready === 'ready') {
        const ev = await w.next();
        if (ev === 'closed') return;
        timedOut = ev === 'timeout';
        // Released by an event: share one read with the others it released (started after it was heard).
        buf = await this.get(r, ev === 'timeout' ? undefined : w.heardAt);
      }
      // Nothing showed the part will never come (the stream paused: encoder away, ingest restarting): not a
      // 404, which a CDN keeps for a second while the part may still land and be listed.
      if (!buf && timedOut) throw new ReaderError('BLOCKING_TIMEOUT', 'the hinted part did not come in time');
      if (!buf) throw new ReaderError('NOT_FOUND');
      sendObject(x, buf);
    } finally {
      w.close();
    }
  }

  /**
   * A segment requested while it is being filled (the open one, or up to two after it): sent with chunked
   * transfer as each part lands and completed when the segment is announced. If the stream moves on without it,
   * a 404; if time runs out mid-way, the connection is cut (a cache must never keep a truncated segment).
   * Two ahead, not one: DASH clients derive segment numbers from their clock (number-based MPDs), so a chain
   * running up to a segment behind the clock is asked for segments beyond the next; ffmpeg 5.1's DASH demuxer
   * answers any 404 by skipping to the following number at once (dashdec.c read_data: cur_seq_no++) and so
   * runs away from the live edge for good. The same bound as a blocking reload's _HLS_msn (400 beyond two).
   */
  private async inProgressSegment(x: Exchange, r: ObjectRoute, m: StoredManifest): Promise<void> {
    if (!(r.msn >= m.msn && r.msn <= m.msn + 2)) throw new ReaderError('NOT_FOUND');
    const w = watchEvents({
      events: this.d.events,
      stream: r.stream,
      match: (ev) => ev.t !== 'manifest' && ev.r === r.rendition && ev.msn >= r.msn,
      timeoutMs: blockingTimeoutMs(m.targetSec),
      res: x.res,
    });
    let written = 0;
    let nextPart = 0;
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      startStream(x, { cls: 'media', type: contentType(r.file, r.rendition) });
    };
    const writeParts = async (upTo: number): Promise<void> => {
      // Every part asked for at once (their reads share one turn, see get()), written in order.
      const reads: Array<Promise<Buffer | undefined>> = [];
      for (let i = nextPart; i <= upTo; i++) reads.push(this.bytesOf(r, objectName.part(r.msn, i)));
      for (const p of reads) p.catch(() => undefined); // the first failure is thrown below; the rest are moot
      for (const read of reads) {
        const p = await read;
        if (!p) throw new ReaderError('SEGMENT_INCOMPLETE', `part ${r.msn}.${nextPart} missing`);
        start();
        x.res.write(p);
        written += p.length;
        nextPart++;
      }
    };
    try {
      const ready = await w.ready();
      if (ready === 'closed') return;
      if (ready === 'ready') {
        const whole = await this.get(r);
        if (whole) return sendObject(x, whole);
        const open = await this.d.media.getOpenEntry(r.stream, r.rendition);
        if (open && open.msn === r.msn && open.parts.length > 0) await writeParts(open.parts.length - 1);
        for (;;) {
          const ev = await w.next();
          if (ev === 'closed') return;
          if (ev === 'timeout') break;
          if (ev.t === 'manifest') continue;
          if (ev.t === 'part' && ev.msn === r.msn) await writeParts(ev.i);
          else if (ev.t === 'seg' && ev.msn === r.msn) {
            const seg = await this.bytesOf(r, r.file);
            if (!seg) throw new ReaderError('SEGMENT_INCOMPLETE', `segment ${r.msn} vanished`);
            start();
            x.res.end(seg.subarray(written));
            return;
          } else if (ev.msn > r.msn && !started) {
            // Never started here (the stream moved on): nothing to stream.
            throw new ReaderError('NOT_FOUND');
          }
        }
      }
      if (!started) throw new ReaderError('NOT_FOUND');
      x.res.destroy(); // incomplete: never let a cache keep a truncated segment
    } finally {
      w.close();
    }
  }
}

/** A whole object from its prepared answer (304 on a matching If-None-Match); a Range request is cut here. */
function sendObject(x: Exchange, o: CachedObject): void {
  const range = x.req.headers.range;
  if (range === undefined) return sendPrepared(x, o.answer);
  const { body, etag } = o.answer;
  x.res.setHeader('ETag', etag);
  x.res.setHeader('Accept-Ranges', 'bytes');
  if (x.req.headers['if-none-match'] === etag) return sendPrepared(x, o.answer);
  const r = parseRange(range, body.length);
  if (r === 'unsatisfiable')
    throw new ReaderError('RANGE_NOT_SATISFIABLE', undefined, { 'Content-Range': `bytes */${body.length}` });
  const { type } = o;
  if (r) {
    x.res.setHeader('Content-Range', `bytes ${r.start}-${r.end}/${body.length}`);
    return send(x, { status: 206, cls: 'media', type, body: body.subarray(r.start, r.end + 1) });
  }
  send(x, { cls: 'media', type, body });
}
