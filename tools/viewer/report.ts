/**
 * What the player-like viewer (viewer.ts) records, and the pure acceptance rules of issue #13 over it
 * (`acceptance`): no I/O, so the rules are unit-tested with constructed reports.
 */

/** What a request was for. A preload hint names a part that may never exist (RFC 8216bis 4.4.5.3). */
export type RequestKind = 'playlist' | 'blocking' | 'init' | 'segment' | 'part' | 'hint';

export interface RequestRecord {
  /** Unix ms when the request was sent. */
  t: number;
  /** Unix ms when the answer (or the failure) was complete. */
  doneAt: number;
  kind: RequestKind;
  url: string;
  /** HTTP status; 0 when no answer came (connection refused, reset, timeout). */
  status: number;
  /** Retry-After header, when present. */
  retryAfter?: string;
  /** For an answer other than 200: the CDN's X-Cache-Status (HIT/MISS) and Age, when present. */
  cache?: string;
  /** The reader's error code from an error body ("STORE_UNAVAILABLE: ..."), or the fetch error message. */
  error?: string;
}

/** One media playlist as the viewer received it. */
export interface PlaylistSample {
  t: number;
  mediaSequence: number;
  discontinuitySequence: number;
  /** Newest listed position: the last part of the in-progress segment, or the last complete segment (part -1). */
  newestMsn: number;
  newestPart: number;
  segments: number;
  endList: boolean;
}

export interface Backwards {
  t: number;
  what: 'media-sequence' | 'discontinuity-sequence' | 'newest-segment';
  from: number;
  to: number;
}

/** An object a playlist named that then answered 404 while it should still exist. */
export interface Missing {
  t: number;
  url: string;
  kind: RequestKind;
  status: number;
  /** When a playlist last named it, and until when it must stay readable (last listed + its TTL margin). */
  lastListedAt: number;
  guaranteedUntil: number;
}

/** One URL that answered two different bodies. */
export interface Changed {
  t: number;
  url: string;
  before: string;
  after: string;
}

export interface ViewerReport {
  url: string;
  mode: 'll-hls' | 'hls';
  startedAt: number;
  endedAt: number;
  requests: RequestRecord[];
  playlists: PlaylistSample[];
  /** Count of answers by status ("200", "404", "503", "0" for no answer). */
  byStatus: Record<string, number>;
  /** 5xx split: 503 STORE_UNAVAILABLE with Retry-After (a true store outage), 503 BLOCKING_TIMEOUT, the rest. */
  errors5xx: { storeOutage503: number; blockingTimeout503: number; other: number };
  backwards: Backwards[];
  missing: Missing[];
  changed: Changed[];
  /** Unix ms of every arrival of new media (a part or segment not received before). */
  mediaArrivals: number[];
  /** Longest time without new media between the first arrival and the end. */
  longestStallMs: number;
  longestStall: { from: number; to: number };
  /** Discontinuity boundaries seen (segments tagged EXT-X-DISCONTINUITY, each counted once). */
  discontinuities: number;
  /** Events the driver marked (fault injected, process back...), for reading the report. */
  marks: Array<{ t: number; label: string }>;
}

/** The longest gap between consecutive arrivals within [from, to] (the edges count as arrivals). */
export function longestGap(
  arrivals: number[],
  from: number,
  to: number,
): { ms: number; from: number; to: number } {
  const before = arrivals.filter((t) => t <= from).at(-1) ?? from;
  const points = [before, ...arrivals.filter((t) => t > from && t < to), to];
  let best = { ms: 0, from, to: from };
  for (let i = 1; i < points.length; i++) {
    const ms = points[i]! - points[i - 1]!;
    if (ms > best.ms) best = { ms, from: points[i - 1]!, to: points[i]! };
  }
  return best;
}

export interface Window {
  from: number;
  to: number;
}

export interface AcceptanceOptions {
  /**
   * When the store was truly gone: the reader's 503 with Retry-After (STORE_UNAVAILABLE, or a blocking reload held
   * across the outage timing out) and no answer at all are allowed in these windows, up to `graceMs` after each
   * (the reader learns of the store's return within about a second). A 503 without Retry-After (the CDN's own
   * "Backend fetch failed") never is.
   */
  storeOutages?: Window[];
  /**
   * When the encoder was away: a blocking reload may time out (503 BLOCKING_TIMEOUT with Retry-After) and the
   * playlist may be 404 while the stream is not live.
   */
  encoderAway?: Window[];
  /**
   * Instants the store lost everything (restarted without persistence, flushed): an object listed before one and
   * asked for after it may be gone (its bytes were lost; what counts is that no URL names other bytes).
   */
  storeWipes?: number[];
  /** Slack after each window's end, ms (default 1500). A request belongs to a window by when it was answered. */
  graceMs?: number;
  /** After each of these instants, new media must arrive within `withinMs`. */
  recoveries?: Array<{ after: number; withinMs: number; what: string }>;
  /** Within `window` (default: the whole run), no gap between media arrivals longer than `ms`. */
  maxStall?: { ms: number; window?: Window };
  /** No answer other than 2xx/304 at all (outside the allowed windows), 4xx included. */
  noErrors?: boolean;
  /** At least this many discontinuities seen. */
  minDiscontinuities?: number;
}

export type Rule =
  | 'backwards'
  | 'missing'
  | 'changed'
  | 'server-error'
  | 'no-answer'
  | 'client-error'
  | 'recovery'
  | 'stall'
  | 'discontinuities';

export interface Violation {
  rule: Rule;
  message: string;
}

const inAny = (t: number, ws: Window[] | undefined, graceMs: number): boolean =>
  (ws ?? []).some((w) => t >= w.from && t <= w.to + graceMs);

/**
 * From the viewer's start to its first media: a viewer started before the stream is live gets 404 playlists (and a
 * CDN keeps such a 404 briefly); pass it in `encoderAway` so those are not taken for a fault's doing.
 */
export function untilLive(report: ViewerReport): Window {
  return { from: report.startedAt, to: report.mediaArrivals[0] ?? report.startedAt };
}

/**
 * Issue #13's acceptance rules over a viewer's report: media and discontinuity sequences never go backwards; no
 * object a playlist named answers 404 within its lifetime, nor a URL two different bodies; no 5xx reaches the
 * viewer except 503 while there is truly no store; new media within the stated time after each fault.
 * Returns every violated rule with an explanation (empty: accepted).
 */
export function acceptance(report: ViewerReport, opts: AcceptanceOptions = {}): Violation[] {
  const graceMs = opts.graceMs ?? 1500;
  const out: Violation[] = [];
  const iso = (t: number): string => `+${t - report.startedAt} ms`;
  for (const b of report.backwards)
    out.push({ rule: 'backwards', message: `${b.what} went backwards ${b.from} -> ${b.to} at ${iso(b.t)}` });
  for (const m of report.missing) {
    if ((opts.storeWipes ?? []).some((w) => m.lastListedAt <= w + graceMs && m.t >= w)) continue;
    out.push({
      rule: 'missing',
      message:
        `${m.kind} ${m.url} answered ${m.status} at ${iso(m.t)}, named by a playlist at ${iso(m.lastListedAt)} ` +
        `and due to exist until ${iso(m.guaranteedUntil)}`,
    });
  }
  for (const c of report.changed)
    out.push({
      rule: 'changed',
      message: `${c.url} answered different bytes at ${iso(c.t)} (${c.before} -> ${c.after})`,
    });

  for (const r of report.requests) {
    const code = r.error?.split(':')[0];
    const what = `${r.kind} ${r.url} at ${iso(r.t)}`;
    if (r.status >= 500) {
      const timeout503 = r.status === 503 && code === 'BLOCKING_TIMEOUT' && r.retryAfter !== undefined;
      // While the store is gone, any of the reader's 503s (a held blocking reload times out too) is the outage.
      if (r.status === 503 && r.retryAfter !== undefined && inAny(r.doneAt, opts.storeOutages, graceMs))
        continue;
      if (timeout503 && inAny(r.doneAt, opts.encoderAway, graceMs)) continue;
      out.push({
        rule: 'server-error',
        message:
          `${r.status} ${r.error ?? ''}${r.retryAfter ? ` (Retry-After ${r.retryAfter})` : ''} for ${what}`.replace(
            '  ',
            ' ',
          ),
      });
    } else if (r.status === 0) {
      if (inAny(r.doneAt, opts.storeOutages, graceMs)) continue;
      out.push({ rule: 'no-answer', message: `no answer (${r.error ?? 'unknown'}) for ${what}` });
    } else if (r.status >= 400 && opts.noErrors) {
      // A hinted part that never materialises is the hint's normal failure, not an error of a named object.
      if (r.kind === 'hint' && r.status === 404) continue;
      if (inAny(r.doneAt, opts.encoderAway, graceMs) && (r.status === 404 || r.kind === 'blocking')) continue;
      out.push({ rule: 'client-error', message: `${r.status} ${r.error ?? ''} for ${what}` });
    }
  }

  for (const rec of opts.recoveries ?? []) {
    const first = report.mediaArrivals.find((t) => t > rec.after);
    const limit = rec.after + rec.withinMs;
    if (first === undefined || first > limit)
      out.push({
        rule: 'recovery',
        message:
          `${rec.what}: no new media within ${rec.withinMs} ms of ${iso(rec.after)} ` +
          (first === undefined ? '(none at all)' : `(first after ${first - rec.after} ms)`),
      });
  }
  if (opts.maxStall) {
    const w = opts.maxStall.window ?? {
      from: report.mediaArrivals[0] ?? report.startedAt,
      to: report.endedAt,
    };
    const g = longestGap(report.mediaArrivals, w.from, w.to);
    if (g.ms > opts.maxStall.ms)
      out.push({
        rule: 'stall',
        message: `no new media for ${g.ms} ms (${iso(g.from)} to ${iso(g.to)}), limit ${opts.maxStall.ms} ms`,
      });
  }
  if (opts.minDiscontinuities !== undefined && report.discontinuities < opts.minDiscontinuities)
    out.push({
      rule: 'discontinuities',
      message: `${report.discontinuities} discontinuities seen, expected at least ${opts.minDiscontinuities}`,
    });
  return out;
}

/** A short summary for logs and benchmark JSON. */
export function summary(report: ViewerReport): Record<string, unknown> {
  const notOk: Record<string, number> = {};
  for (const r of report.requests)
    if (r.status !== 200 && r.status !== 304) {
      const k = `${r.kind} ${r.status}${r.error ? ` ${r.error.split(':')[0]!.slice(0, 40)}` : ''}${r.cache ? ` (${r.cache.split(' ')[0]})` : ''}`;
      notOk[k] = (notOk[k] ?? 0) + 1;
    }
  return {
    requests: report.requests.length,
    byStatus: report.byStatus,
    notOk,
    errors5xx: report.errors5xx,
    longestStallMs: report.longestStallMs,
    backwards: report.backwards.length,
    missing: report.missing.length,
    changed: report.changed.length,
    discontinuities: report.discontinuities,
    playlists: report.playlists.length,
    mediaArrivals: report.mediaArrivals.length,
  };
}
