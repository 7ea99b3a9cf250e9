/**
 * A player-like viewer for fault tests and benchmarks (#13): follows one media playlist the way hls.js does and
 * records everything it sees.
 *   LL-HLS: a blocking reload (_HLS_msn/_HLS_part of the preload hint) after each playlist, the hinted part
 *   requested at once (held by the origin until it exists), every listed part, segment and init fetched once.
 *   HLS: a plain reload every half target duration, every new segment and init fetched.
 * A failed playlist request is asked again (the same blocking request, as hls.js does) after `retryDelayMs`;
 * after a 400/404 or three failures in a row the viewer falls back to a plain reload.
 * Every request (status, URL, time), every playlist's sequence numbers, anything going backwards, every listed
 * object that answered 404 while it should still exist, every URL that answered two different bodies, and every
 * arrival of new media are in `report()`; `acceptance()` (report.ts) checks issue #13's rules over it.
 */
import { createHash } from 'node:crypto';
import { Parser } from 'm3u8-parser';
import {
  type Backwards,
  type Changed,
  type Missing,
  type PlaylistSample,
  type RequestKind,
  type RequestRecord,
  type ViewerReport,
  longestGap,
} from './report.js';

export * from './report.js';

export interface ViewerOptions {
  /** The media playlist URL (through the CDN in the tests). */
  url: string;
  mode?: 'll-hls' | 'hls';
  /** Abort a request after this long (default 15 s; a blocking reload is held up to three target durations). */
  fetchTimeoutMs?: number;
  /** Pause before asking again after a failed playlist request (default 250 ms; hls.js waits 1 s, then longer). */
  retryDelayMs?: number;
  /** Fetch complete segments in LL-HLS mode too (default true; their parts are always fetched). */
  fetchSegments?: boolean;
}

interface ObjectState {
  kind: RequestKind;
  sha1?: string;
  /** A request for it is in flight or done with 200 (a failed hint may be asked again once listed). */
  requested: boolean;
  lastListedAt: number;
  guaranteedUntil: number;
}

interface ParsedPart {
  uri: string;
}
interface ParsedSegment {
  uri?: string;
  duration?: number;
  parts?: ParsedPart[];
  map?: { uri: string };
  discontinuity?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parse(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest as {
    mediaSequence?: number;
    discontinuitySequence?: number;
    targetDuration?: number;
    endList?: boolean;
    segments: ParsedSegment[];
    preloadSegment?: ParsedSegment & { preloadHints?: Array<{ type: string; uri: string }> };
  };
}

/** `part-M.K.m4s` / `seg-M.m4s` -> a position ordered like the media (a whole segment after all its parts). */
function position(uri: string): { msn: number; part: number } | undefined {
  const p = /part-(\d+)\.(\d+)\.m4s/.exec(uri);
  if (p) return { msn: Number(p[1]), part: Number(p[2]) };
  const s = /seg-(\d+)\.m4s/.exec(uri);
  return s ? { msn: Number(s[1]), part: Number.MAX_SAFE_INTEGER } : undefined;
}

export class Viewer {
  readonly url: string;
  readonly mode: 'll-hls' | 'hls';
  private readonly fetchTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly fetchSegments: boolean;
  private readonly requests: RequestRecord[] = [];
  private readonly playlists: PlaylistSample[] = [];
  private readonly backwards: Backwards[] = [];
  private readonly missing: Missing[] = [];
  private readonly changed: Changed[] = [];
  private readonly arrivals: number[] = [];
  /** Position of each arrival (same order as `arrivals`). */
  private readonly arrivalPos: Array<{ msn: number; part: number }> = [];
  private readonly marks: Array<{ t: number; label: string }> = [];
  private readonly objects = new Map<string, ObjectState>();
  private readonly discontinuityAt = new Set<number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly aborter = new AbortController();
  private newest: { msn: number; part: number } = { msn: -1, part: -1 };
  private arrivalWaiters: Array<() => void> = [];
  private startedAt = 0;
  private endedAt: number | undefined;
  private loop: Promise<void> | undefined;
  private on = false;

  constructor(opts: ViewerOptions) {
    this.url = opts.url;
    this.mode = opts.mode ?? 'll-hls';
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 15_000;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.fetchSegments = opts.fetchSegments ?? true;
  }

  /** Starts following the playlist (returns at once). */
  start(): this {
    if (this.loop) return this;
    this.on = true;
    this.startedAt = Date.now();
    this.loop = this.follow();
    return this;
  }

  /** Stops, lets requests in flight end (aborted), and returns the report. */
  async stop(): Promise<ViewerReport> {
    this.on = false;
    this.endedAt ??= Date.now();
    this.aborter.abort();
    await this.loop;
    await Promise.all([...this.inflight]);
    return this.report();
  }

  /** Notes an event (a fault injected, a process back) in the report. */
  mark(label: string, t = Date.now()): number {
    this.marks.push({ t, label });
    return t;
  }

  /** Resolves with the time of the first new media after `after` (Unix ms); rejects after `timeoutMs`. */
  async waitForMedia(after: number, timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const t = this.arrivals.find((a) => a > after);
      if (t !== undefined) return t;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`viewer: no new media within ${timeoutMs} ms of ${after}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.arrivalWaiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  /**
   * When the first media of a segment that starts a new discontinuity (a new encoder session or transcoder) and
   * is newer than anything received by `after` arrived: unlike the first arrival after `after`, parts the previous
   * session had still in flight do not count. Undefined if none (yet).
   */
  firstMediaAfterDiscontinuity(after: number): number | undefined {
    let before = -1;
    for (let i = 0; i < this.arrivals.length && this.arrivals[i]! <= after; i++)
      before = Math.max(before, this.arrivalPos[i]!.msn);
    for (let i = 0; i < this.arrivals.length; i++) {
      const pos = this.arrivalPos[i]!;
      if (this.arrivals[i]! > after && pos.msn > before && this.discontinuityAt.has(pos.msn))
        return this.arrivals[i];
    }
    return undefined;
  }

  /** The newest playlist received. */
  lastPlaylist(): PlaylistSample | undefined {
    return this.playlists.at(-1);
  }

  /**
   * Asks again for every object fetched so far (or only those still within their lifetime), from `base` instead
   * of the viewer's origin if given (e.g. a reader directly, bypassing the CDN's copies): a different body is
   * recorded as `changed`; a 404 before the object's guaranteed end as `missing` (unless `expectPresent` is false:
   * after a store wipe objects are lost, but none may change).
   */
  async recheck(o: { base?: string; all?: boolean; expectPresent?: boolean } = {}): Promise<{
    checked: number;
    changed: Changed[];
    missing: Missing[];
  }> {
    const now = Date.now();
    const found = { checked: 0, changed: [] as Changed[], missing: [] as Missing[] };
    const origin = new URL(this.url).origin;
    for (const [url, st] of this.objects) {
      if (!st.sha1) continue;
      if (!o.all && st.guaranteedUntil < now) continue;
      const target = o.base ? o.base + url.slice(origin.length) : url;
      const r = await this.request(st.kind, target, { record: false });
      found.checked++;
      if (r.status === 200 && r.sha1 !== st.sha1)
        found.changed.push({ t: r.t, url: target, before: st.sha1, after: r.sha1! });
      else if (r.status === 404 && r.t <= st.guaranteedUntil && o.expectPresent !== false)
        found.missing.push({
          t: r.t,
          url: target,
          kind: st.kind,
          status: r.status,
          lastListedAt: st.lastListedAt,
          guaranteedUntil: st.guaranteedUntil,
        });
    }
    this.changed.push(...found.changed);
    this.missing.push(...found.missing);
    return found;
  }

  report(): ViewerReport {
    const endedAt = this.endedAt ?? Date.now();
    const byStatus: Record<string, number> = {};
    const errors5xx = { storeOutage503: 0, blockingTimeout503: 0, other: 0 };
    for (const r of this.requests) {
      byStatus[String(r.status)] = (byStatus[String(r.status)] ?? 0) + 1;
      if (r.status < 500) continue;
      const code = r.error?.split(':')[0];
      if (r.status === 503 && r.retryAfter !== undefined && code === 'STORE_UNAVAILABLE')
        errors5xx.storeOutage503++;
      else if (r.status === 503 && r.retryAfter !== undefined && code === 'BLOCKING_TIMEOUT')
        errors5xx.blockingTimeout503++;
      else errors5xx.other++;
    }
    const first = this.arrivals[0] ?? endedAt;
    const g = longestGap(this.arrivals, first, endedAt);
    return {
      url: this.url,
      mode: this.mode,
      startedAt: this.startedAt,
      endedAt,
      requests: [...this.requests],
      playlists: [...this.playlists],
      byStatus,
      errors5xx,
      backwards: [...this.backwards],
      missing: [...this.missing],
      changed: [...this.changed],
      mediaArrivals: [...this.arrivals],
      longestStallMs: g.ms,
      longestStall: { from: g.from, to: g.to },
      discontinuities: this.discontinuityAt.size,
      marks: [...this.marks],
    };
  }

  // ---- following ----

  private async follow(): Promise<void> {
    let next = this.url;
    let failures = 0;
    while (this.on) {
      const blocking = next !== this.url;
      const r = await this.request(blocking ? 'blocking' : 'playlist', next);
      if (!this.on) break;
      if (r.status !== 200) {
        failures++;
        if (r.status === 400 || r.status === 404 || failures >= 3) next = this.url;
        await sleep(this.retryDelayMs);
        continue;
      }
      failures = 0;
      const pl = parse(r.body!.toString());
      const targetMs = (pl.targetDuration ?? 2) * 1000;
      const hint = this.onPlaylist(pl, r.doneAt, targetMs);
      if (this.mode === 'll-hls' && hint && !pl.endList) {
        const u = new URL(this.url);
        u.searchParams.set('_HLS_msn', String(hint.msn));
        u.searchParams.set('_HLS_part', String(hint.part));
        next = u.href;
      } else {
        next = this.url;
        // Classic HLS reloads every half target duration; an ended or hint-less LL playlist is polled faster to
        // see the stream come back.
        await sleep(this.mode === 'hls' ? targetMs / 2 : Math.min(250, targetMs / 2));
      }
    }
  }

  /** Records a playlist, fetches what it names; returns the preload-hinted part's position. */
  private onPlaylist(
    pl: ReturnType<typeof parse>,
    t: number,
    targetMs: number,
  ): { msn: number; part: number } | undefined {
    const seq = pl.mediaSequence ?? 0;
    const ds = pl.discontinuitySequence ?? 0;
    const segs = pl.segments;
    const pending = pl.preloadSegment?.parts ?? [];
    const newestMsn = pending.length > 0 ? seq + segs.length : seq + segs.length - 1;
    const sample: PlaylistSample = {
      t,
      mediaSequence: seq,
      discontinuitySequence: ds,
      newestMsn,
      newestPart: pending.length > 0 ? pending.length - 1 : -1,
      segments: segs.length,
      endList: !!pl.endList,
    };
    const prev = this.playlists.at(-1);
    if (prev) {
      if (seq < prev.mediaSequence)
        this.backwards.push({ t, what: 'media-sequence', from: prev.mediaSequence, to: seq });
      if (ds < prev.discontinuitySequence)
        this.backwards.push({ t, what: 'discontinuity-sequence', from: prev.discontinuitySequence, to: ds });
      if (newestMsn < prev.newestMsn)
        this.backwards.push({ t, what: 'newest-segment', from: prev.newestMsn, to: newestMsn });
    }
    this.playlists.push(sample);

    // Lifetimes (src/core/timeline/ttl.ts): a segment (and its init) stays readable for its time in the playlist
    // plus the playlist's duration; a part for three target durations after it leaves the playlist. Counted from
    // when this viewer last saw it listed, which is never later than when it left.
    const playlistMs = segs.reduce((n, s) => n + (s.duration ?? 0) * 1000, 0);
    const named: Array<{ uri: string; kind: RequestKind; keepMs: number }> = [];
    segs.forEach((s, i) => {
      if (s.discontinuity) this.discontinuityAt.add(seq + i);
      if (s.map) named.push({ uri: s.map.uri, kind: 'init', keepMs: playlistMs });
      if (s.uri && (this.mode === 'hls' || this.fetchSegments))
        named.push({ uri: s.uri, kind: 'segment', keepMs: playlistMs });
      if (this.mode === 'll-hls')
        for (const p of s.parts ?? []) named.push({ uri: p.uri, kind: 'part', keepMs: 3 * targetMs });
    });
    if (pl.preloadSegment?.discontinuity) this.discontinuityAt.add(seq + segs.length);
    if (this.mode === 'll-hls') {
      if (pl.preloadSegment?.map)
        named.push({ uri: pl.preloadSegment.map.uri, kind: 'init', keepMs: playlistMs });
      for (const p of pending) named.push({ uri: p.uri, kind: 'part', keepMs: 3 * targetMs });
    }
    for (const n of named) {
      const url = new URL(n.uri, this.url).href;
      const st = this.objects.get(url);
      if (st) {
        st.lastListedAt = t;
        st.guaranteedUntil = t + n.keepMs;
        if (st.kind === 'hint') st.kind = n.kind;
        if (st.requested) continue;
        st.requested = true;
      } else {
        this.objects.set(url, {
          kind: n.kind,
          requested: true,
          lastListedAt: t,
          guaranteedUntil: t + n.keepMs,
        });
      }
      this.track(this.fetchObject(url, n.kind));
    }
    if (this.mode !== 'll-hls') return undefined;
    const hintUri = pl.preloadSegment?.preloadHints?.find((h) => h.type === 'PART')?.uri;
    const hint = hintUri ? position(hintUri) : undefined;
    if (hintUri && hint) {
      const url = new URL(hintUri, this.url).href;
      if (!this.objects.has(url)) {
        this.objects.set(url, { kind: 'hint', requested: true, lastListedAt: 0, guaranteedUntil: 0 });
        this.track(this.fetchObject(url, 'hint'));
      }
    }
    return hint;
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async fetchObject(url: string, kind: RequestKind): Promise<void> {
    const r = await this.request(kind, url);
    const st = this.objects.get(url)!;
    if (r.status === 200) {
      if (st.sha1 && st.sha1 !== r.sha1) this.changed.push({ t: r.t, url, before: st.sha1, after: r.sha1! });
      st.sha1 = r.sha1;
      const pos = kind === 'init' ? undefined : position(url);
      if (
        pos &&
        (pos.msn > this.newest.msn || (pos.msn === this.newest.msn && pos.part > this.newest.part))
      ) {
        this.newest = pos;
        this.arrivals.push(r.doneAt);
        this.arrivalPos.push(pos);
        const w = this.arrivalWaiters;
        this.arrivalWaiters = [];
        for (const f of w) f();
      }
      return;
    }
    // Not received: a failed hint (or a listed object that failed) is asked again when a playlist names it.
    st.requested = false;
    if (r.status === 404 && kind !== 'hint' && r.t <= st.guaranteedUntil)
      this.missing.push({
        t: r.t,
        url,
        kind,
        status: r.status,
        lastListedAt: st.lastListedAt,
        guaranteedUntil: st.guaranteedUntil,
      });
  }

  private async request(
    kind: RequestKind,
    url: string,
    o: { record?: boolean } = {},
  ): Promise<RequestRecord & { body?: Buffer; sha1?: string }> {
    const t = Date.now();
    let rec: RequestRecord & { body?: Buffer; sha1?: string };
    try {
      const res = await fetch(url, {
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(this.fetchTimeoutMs)]),
      });
      const body = Buffer.from(await res.arrayBuffer());
      rec = { t, doneAt: Date.now(), kind, url, status: res.status };
      const ra = res.headers.get('retry-after');
      if (ra !== null) rec.retryAfter = ra;
      const cache = res.headers.get('x-cache-status');
      if (cache !== null && res.status !== 200)
        rec.cache = `${cache}${res.headers.get('age') ? ` age ${res.headers.get('age')}` : ''}`;
      if (res.status === 200) {
        rec.body = body;
        rec.sha1 = createHash('sha1').update(body).digest('hex');
      } else if (res.status >= 400) {
        const text = body.toString('utf8', 0, Math.min(body.length, 2000));
        const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
        rec.error = (title ?? text).replace(/\s+/g, ' ').trim().slice(0, 100);
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      rec = { t, doneAt: Date.now(), kind, url, status: 0, error: e.cause?.code ?? e.name ?? e.message };
    }
    // Requests cut by stop() are not what the viewer saw of the origin.
    if (o.record !== false && !(rec.status === 0 && this.aborter.signal.aborted)) {
      const { body: _b, sha1: _s, ...plain } = rec;
      this.requests.push(plain);
    }
    return rec;
  }
}
