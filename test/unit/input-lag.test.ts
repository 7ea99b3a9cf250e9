/**
 * The RTMP input's lag behind its publisher (src/ingest/sources/rtmp/input-lag.ts): media time against arrival
 * time, a queue detected and cut, the backlog dropped until the input is read on time again, and what is not a
 * queue (an encoder clock running slow, a timestamp reset, arrival jitter) left alone.
 */
import { describe, expect, it } from 'vitest';
import { InputLag, type LagVerdict } from '../../src/ingest/sources/rtmp/input-lag.js';

/** Feeds tags every 33 ms of media time; `arrive(ts)` says when each is read. */
function feed(
  lag: InputLag,
  fromTs: number,
  toTs: number,
  arrive: (ts: number) => number,
): Array<{ ts: number; v: LagVerdict; lagMs: number }> {
  const out: Array<{ ts: number; v: LagVerdict; lagMs: number }> = [];
  for (let ts = fromTs; ts < toTs; ts += 33)
    out.push({ ts, v: lag.observe(ts, arrive(ts)), lagMs: lag.lagMs });
  return out;
}

/** Feeds tags read at 0.5x from `fromTs` (arrival starting at `at0`) until the cut; returns the cut tag. */
function slowUntilCut(
  lag: InputLag,
  fromTs: number,
  at0: number,
): { ts: number; lagMs: number; prevLagMs: number } {
  let prevLagMs = 0;
  for (let ts = fromTs; ts < fromTs + 60_000; ts += 33) {
    const v = lag.observe(ts, at0 + (ts - fromTs) * 2);
    if (v === 'cut') return { ts, lagMs: lag.lagMs, prevLagMs };
    expect(v).toBe('pass');
    prevLagMs = lag.lagMs;
  }
  throw new Error('no cut');
}

describe('input lag', () => {
  it('passes an input read as it is sent, with arrival jitter below the limit', () => {
    const lag = new InputLag(6000);
    const t0 = 1_000_000;
    const r = feed(lag, 0, 60_000, (ts) => t0 + ts + (ts % 7) * 40); // up to 240 ms jitter
    expect(r.every((x) => x.v === 'pass')).toBe(true);
    expect(Math.max(...r.map((x) => x.lagMs))).toBeLessThanOrEqual(240);
  });

  it('cuts a queue past the limit once, drops the backlog read out after it, and resumes on time', () => {
    const lag = new InputLag(6000);
    const t0 = 1_000_000;
    // 10 s on time, then the transcoder at 0.5x: each media second takes 2 s to be read.
    const onTime = feed(lag, 0, 10_000, (ts) => t0 + ts);
    expect(onTime.every((x) => x.v === 'pass')).toBe(true);
    const cut = slowUntilCut(lag, 10_000, t0 + 10_000);
    // Cut on the first tag more than 6 s behind: 6 s of lag builds up over 6 s of media at 0.5x.
    expect(cut.lagMs).toBeGreaterThan(6000);
    expect(cut.prevLagMs).toBeLessThanOrEqual(6000);
    expect(cut.ts).toBeGreaterThan(15_900);
    expect(lag.cutting).toBe(true);
    // The caller restarts the transcoder and reads the queue out at once: the publisher, sending in real time, is
    // at media time `now - t0`; everything up to there arrives now.
    const now = t0 + 10_000 + (cut.ts - 10_000) * 2;
    const drain = feed(lag, cut.ts + 33, now - t0, () => now);
    const resumeAt = drain.findIndex((x) => x.v === 'resume');
    expect(resumeAt).toBeGreaterThan(0);
    expect(drain.slice(0, resumeAt).every((x) => x.v === 'drop')).toBe(true);
    expect(drain[resumeAt]!.lagMs).toBeLessThanOrEqual(1000);
    expect(drain.slice(resumeAt + 1).every((x) => x.v === 'pass')).toBe(true);
    const live = feed(lag, now - t0, now - t0 + 30_000, (ts) => t0 + ts);
    expect(live.every((x) => x.v === 'pass')).toBe(true);
    expect(lag.cutting).toBe(false);
  });

  it('does not take an encoder clock 100 ppm slow for a queue over a day', () => {
    const lag = new InputLag(6000);
    const t0 = 5_000;
    // Media time advances 100 ppm slower than ours: 8.6 s apart after 24 h.
    let worst = 0;
    let cuts = 0;
    for (let ts = 0; ts < 86_400_000; ts += 1000) {
      if (lag.observe(ts, t0 + ts * (1 + 100e-6)) !== 'pass') cuts++;
      worst = Math.max(worst, lag.lagMs);
    }
    expect(cuts).toBe(0);
    expect(worst).toBeLessThan(1);
  });

  it('starts a new baseline when the publisher restarts its timestamps', () => {
    const lag = new InputLag(6000);
    const t0 = 50_000;
    feed(lag, 0, 30_000, (ts) => t0 + ts);
    // The encoder's clock restarts at 0 within the same connection, 30 s in.
    const after = feed(lag, 0, 10_000, (ts) => t0 + 30_000 + ts);
    expect(after.every((x) => x.v === 'pass')).toBe(true);
    expect(Math.max(...after.map((x) => x.lagMs))).toBeLessThan(1);
  });

  it('does not take 29.97 fps stamped as 30 (1,000 ppm) for a queue over a day', () => {
    const lag = new InputLag(6000);
    let cuts = 0;
    for (let ts = 0; ts < 86_400_000; ts += 1000) if (lag.observe(ts, ts * 1.001) !== 'pass') cuts++;
    expect(cuts).toBe(0);
  });

  it('keeps a baseline per track: audio stamped 3 s behind video is neither a queue nor a jump', () => {
    const lag = new InputLag(6000);
    const r: LagVerdict[] = [];
    let worst = 0;
    for (let ts = 0; ts < 30_000; ts += 33) {
      r.push(lag.observe(ts, 1000 + ts, 'video'));
      worst = Math.max(worst, lag.lagMs);
      r.push(lag.observe(ts - 3000, 1000 + ts, 'audio'));
      worst = Math.max(worst, lag.lagMs);
    }
    expect(r.every((v) => v === 'pass')).toBe(true);
    expect(worst).toBeLessThan(1);
    // A queue still shows in both tracks: 10 s more of media read at 0.5x.
    const slow: LagVerdict[] = [];
    for (let ts = 30_000; ts < 40_000; ts += 33) {
      const at = 31_000 + (ts - 30_000) * 2;
      slow.push(lag.observe(ts, at, 'video'), lag.observe(ts - 3000, at, 'audio'));
    }
    expect(slow.filter((v) => v === 'cut')).toHaveLength(1);
  });

  it('stops dropping once the input is read at the publisher pace again, even above the old baseline', () => {
    const lag = new InputLag(6000);
    feed(lag, 0, 10_000, (ts) => ts);
    const cut = slowUntilCut(lag, 10_000, 10_000);
    // After the cut the queue is read out at once, then media arrives at the publisher's pace, but 3 s later
    // than the old baseline allows (its clock moved): the lag never falls below 1 s. Dropping must still end.
    const at0 = 10_000 + (cut.ts - 10_000) * 2;
    const edge = at0 - 3000;
    const drained = feed(lag, cut.ts + 33, edge, () => at0);
    expect(drained.every((x) => x.v === 'drop')).toBe(true);
    const after = feed(lag, edge, edge + 20_000, (ts) => at0 + (ts - edge));
    const resumeAt = after.findIndex((x) => x.v === 'resume');
    expect(resumeAt).toBeGreaterThan(0);
    expect(after.slice(0, resumeAt).every((x) => x.v === 'drop')).toBe(true);
    // Within about a second of arrivals.
    expect(after[resumeAt]!.ts - after[0]!.ts).toBeLessThanOrEqual(1100);
    expect(after.slice(resumeAt + 1).every((x) => x.v === 'pass')).toBe(true);
    expect(lag.cutting).toBe(false);
  });

  it('measures afresh after reset(): a wait the caller made on purpose is not a queue', () => {
    const lag = new InputLag(6000);
    feed(lag, 0, 5000, (ts) => ts);
    lag.reset();
    // Read 8 s late after a paused start, then on time: no cut.
    const r = feed(lag, 5000, 20_000, (ts) => Math.max(13_000 + (ts - 5000) / 10, ts + 8000 - (ts - 5000)));
    expect(r.every((x) => x.v === 'pass')).toBe(true);
  });

  it('never cuts with the limit at 0, and still measures', () => {
    const lag = new InputLag(0);
    const r = feed(lag, 0, 20_000, (ts) => ts * 2);
    expect(r.every((x) => x.v === 'pass')).toBe(true);
    expect(r[r.length - 1]!.lagMs).toBeGreaterThan(9000);
  });
});
