import { describe, expect, it } from 'vitest';
import { acceptance, longestGap, type RequestRecord, type ViewerReport } from '../../tools/viewer/report.js';

const T0 = 1_800_000_000_000;

/** A clean report: 10 s of parts every 250 ms, all 200. */
function report(over: Partial<ViewerReport> = {}): ViewerReport {
  const arrivals = Array.from({ length: 40 }, (_, i) => T0 + 250 * (i + 1));
  return {
    url: 'http://cdn/live/cam/360p/index.m3u8',
    mode: 'll-hls',
    startedAt: T0,
    endedAt: T0 + 10_000,
    requests: arrivals.map((t, i) => req({ t, kind: 'part', url: `part-${i}.0.m4s` })),
    playlists: [],
    byStatus: { '200': 40 },
    errors5xx: { storeOutage503: 0, blockingTimeout503: 0, other: 0 },
    backwards: [],
    missing: [],
    changed: [],
    mediaArrivals: arrivals,
    longestStallMs: 250,
    longestStall: { from: T0, to: T0 + 250 },
    discontinuities: 0,
    marks: [],
    ...over,
  };
}

function req(o: Partial<RequestRecord> & { t: number }): RequestRecord {
  return { doneAt: o.t + 5, kind: 'playlist', url: 'index.m3u8', status: 200, ...o };
}

const rules = (v: ReturnType<typeof acceptance>): string[] => v.map((x) => x.rule);

describe('viewer acceptance rules (#13)', () => {
  it('accepts a clean run with every rule asked for', () => {
    expect(
      acceptance(report(), {
        noErrors: true,
        maxStall: { ms: 1000 },
        recoveries: [{ after: T0 + 5000, withinMs: 1000, what: 'fault' }],
      }),
    ).toEqual([]);
  });

  it('rejects a media sequence or discontinuity sequence that goes backwards, saying from what to what', () => {
    const v = acceptance(
      report({
        backwards: [
          { t: T0 + 3000, what: 'media-sequence', from: 7, to: 0 },
          { t: T0 + 3000, what: 'discontinuity-sequence', from: 2, to: 1 },
        ],
      }),
    );
    expect(rules(v)).toEqual(['backwards', 'backwards']);
    expect(v[0]!.message).toContain('media-sequence went backwards 7 -> 0 at +3000 ms');
  });

  it('rejects a listed object that answered 404 within its lifetime, and a URL with two bodies', () => {
    const r = report({
      missing: [
        {
          t: T0 + 4000,
          url: 'seg-22.m4s',
          kind: 'segment',
          status: 404,
          lastListedAt: T0 + 3900,
          guaranteedUntil: T0 + 9900,
        },
      ],
      changed: [{ t: T0 + 5000, url: 'seg-0.m4s', before: 'aa', after: 'bb' }],
    });
    const v = acceptance(r);
    expect(rules(v)).toEqual(['missing', 'changed']);
    expect(v[0]!.message).toMatch(/segment seg-22\.m4s answered 404 .*until \+9900 ms/);
    // A store wiped between the listing and the request lost the object: not a violation (a change would be).
    const lost = report({ missing: r.missing });
    expect(rules(acceptance(lost, { storeWipes: [T0 + 3950], graceMs: 0 }))).toEqual([]);
    // A wipe before the listing or after the request excuses nothing.
    expect(rules(acceptance(lost, { storeWipes: [T0 + 4100], graceMs: 0 }))).toEqual(['missing']);
    expect(rules(acceptance(lost, { storeWipes: [T0 + 3000], graceMs: 0 }))).toEqual(['missing']);
  });

  it("allows the reader's 503 with Retry-After only inside a declared store outage (plus grace)", () => {
    const outage = req({
      t: T0 + 2000,
      status: 503,
      retryAfter: '1',
      error: 'STORE_UNAVAILABLE: origin storage unavailable',
    });
    const late = { ...outage, t: T0 + 6000, doneAt: T0 + 6005 };
    const noRetryAfter = { ...outage, retryAfter: undefined };
    const varnish = req({ t: T0 + 2000, status: 503, error: '503 Backend fetch failed' });
    const heldAcross = req({
      t: T0 + 500,
      doneAt: T0 + 2000,
      kind: 'blocking',
      status: 503,
      retryAfter: '1',
      error: 'BLOCKING_TIMEOUT: x',
    });
    const r = report({ requests: [outage, late, noRetryAfter, varnish, heldAcross] });
    const v = acceptance(r, { storeOutages: [{ from: T0 + 1000, to: T0 + 3000 }], graceMs: 1000 });
    expect(rules(v)).toEqual(['server-error', 'server-error', 'server-error']);
    expect(v.map((x) => x.message).join('\n')).toContain('Backend fetch failed');
    // Without a declared outage, every one of them is a violation.
    expect(rules(acceptance(r))).toHaveLength(5);
  });

  it('treats no answer at all as a violation outside a store outage', () => {
    const r = report({ requests: [req({ t: T0 + 2000, status: 0, error: 'ECONNREFUSED' })] });
    expect(acceptance(r)[0]).toMatchObject({ rule: 'no-answer' });
    expect(acceptance(r, { storeOutages: [{ from: T0, to: T0 + 2500 }] })).toEqual([]);
  });

  it('allows blocking-reload timeouts and playlist 404s only while the encoder is away', () => {
    const timeout = req({
      t: T0 + 2000,
      kind: 'blocking',
      status: 503,
      retryAfter: '1',
      error: 'BLOCKING_TIMEOUT: playlist did not reach the requested part in time',
    });
    const gone = req({ t: T0 + 2500, status: 404, error: 'NOT_FOUND: not found' });
    const r = report({ requests: [timeout, gone] });
    expect(rules(acceptance(r, { noErrors: true }))).toEqual(['server-error', 'client-error']);
    expect(acceptance(r, { noErrors: true, encoderAway: [{ from: T0 + 1000, to: T0 + 2000 }] })).toEqual([]);
  });

  it('counts 4xx only when asked for no errors, and never a hinted part that did not materialise', () => {
    const r = report({
      requests: [
        req({ t: T0 + 1000, kind: 'hint', status: 404 }),
        req({ t: T0 + 1000, kind: 'blocking', status: 400, error: 'MSN_TOO_FAR_AHEAD' }),
      ],
    });
    expect(acceptance(r)).toEqual([]);
    expect(acceptance(r, { noErrors: true }).map((x) => x.message)).toEqual([
      expect.stringContaining('400 MSN_TOO_FAR_AHEAD for blocking'),
    ]);
  });

  it('requires new media within the stated time after each fault', () => {
    const r = report({ mediaArrivals: [T0 + 500, T0 + 1000, T0 + 4200, T0 + 4400] });
    const v = acceptance(r, {
      recoveries: [
        { after: T0 + 1100, withinMs: 3000, what: 'ffmpeg killed' },
        { after: T0 + 1100, withinMs: 3200, what: 'loose' },
        { after: T0 + 4500, withinMs: 1000, what: 'never back' },
      ],
    });
    expect(v.map((x) => x.message)).toEqual([
      'ffmpeg killed: no new media within 3000 ms of +1100 ms (first after 3100 ms)',
      'never back: no new media within 1000 ms of +4500 ms (none at all)',
    ]);
  });

  it('measures the longest stall within a window, the edges included', () => {
    const arrivals = [T0 + 100, T0 + 300, T0 + 2300, T0 + 2500];
    expect(longestGap(arrivals, T0, T0 + 3000)).toEqual({ ms: 2000, from: T0 + 300, to: T0 + 2300 });
    // The time from the last arrival before the window counts; so does the time up to its end.
    expect(longestGap(arrivals, T0 + 1000, T0 + 5000)).toEqual({ ms: 2500, from: T0 + 2500, to: T0 + 5000 });
    const v = acceptance(report({ mediaArrivals: arrivals, endedAt: T0 + 2600 }), { maxStall: { ms: 1000 } });
    expect(v).toEqual([{ rule: 'stall', message: expect.stringContaining('no new media for 2000 ms') }]);
    expect(
      acceptance(report({ mediaArrivals: arrivals, endedAt: T0 + 2600 }), {
        maxStall: { ms: 1000, window: { from: T0 + 2300, to: T0 + 2600 } },
      }),
    ).toEqual([]);
  });

  it('requires the discontinuities asked for', () => {
    expect(acceptance(report({ discontinuities: 4 }), { minDiscontinuities: 5 })).toEqual([
      { rule: 'discontinuities', message: '4 discontinuities seen, expected at least 5' },
    ]);
    expect(acceptance(report({ discontinuities: 5 }), { minDiscontinuities: 5 })).toEqual([]);
  });
});
