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
    // 10 s on time, then the transcoder at 0.5x: each media second takes 2 s to be read, for 20 s of media.
    const onTime = feed(lag, 0, 10_000, (ts) => t0 + ts);
    const slow = feed(lag, 10_000, 30_000, (ts) => t0 + 10_000 + (ts - 10_000) * 2);
    expect(onTime.every((x) => x.v === 'pass')).toBe(true);
    const cutAt = slow.findIndex((x) => x.v === 'cut');
    expect(cutAt).toBeGreaterThan(0);
    // Cut on the first tag more than 6 s behind: 6 s of lag builds up over 6 s of media at 0.5x.
    expect(slow[cutAt]!.lagMs).toBeGreaterThan(6000);
    expect(slow[cutAt - 1]!.lagMs).toBeLessThanOrEqual(6000);
    expect(slow.filter((x) => x.v === 'cut')).toHaveLength(1);
    expect(slow.slice(cutAt + 1).every((x) => x.v === 'drop')).toBe(true);
    expect(lag.cutting).toBe(true);
    // The publisher sent in real time: at `now` it is at 50 s of media. The queue (30-50 s) is read out at
    // once, then media arrives on time.
    const now = t0 + 10_000 + 20_000 * 2;
    const drain = feed(lag, 30_000, 50_000, () => now);
    const resumeAt = drain.findIndex((x) => x.v === 'resume');
    expect(resumeAt).toBeGreaterThan(0);
    expect(drain.slice(0, resumeAt).every((x) => x.v === 'drop')).toBe(true);
    expect(drain[resumeAt]!.lagMs).toBeLessThanOrEqual(1000);
    expect(drain.slice(resumeAt + 1).every((x) => x.v === 'pass')).toBe(true);
    const live = feed(lag, 50_000, 80_000, (ts) => now + (ts - 50_000));
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

  it('never cuts with the limit at 0, and still measures', () => {
    const lag = new InputLag(0);
    const r = feed(lag, 0, 20_000, (ts) => ts * 2);
    expect(r.every((x) => x.v === 'pass')).toBe(true);
    expect(r[r.length - 1]!.lagMs).toBeGreaterThan(9000);
  });
});
