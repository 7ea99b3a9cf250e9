/**
 * The planned transcoder recycle (decision 021) in the supervisor, with real child processes standing in for
 * ffmpeg: `sh -c 'cat > FILE'` records exactly the input each process received, so the hand-over is checked
 * byte for byte. The RTMP end to end (real ffmpeg, a viewer, the discontinuity) is in test/e2e/recycle.test.ts.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { TranscoderSupervisor } from '../../src/ingest/transcoder-supervisor.js';
import { createMetrics } from '../../src/metrics.js';
import { isVideoKeyframePicture } from '../../src/rtmp/flv.js';
import { captureLogger } from '../support/harness.js';

const waitFor = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A supervisor whose "transcoders" copy their stdin to input-N (N counts processes from 0) and then run `after`
 * (a retiring ffmpeg flushing its encoders, or one that never finishes).
 */
function recorder(after: string, recycleAfterMs = 300) {
  const dir = mkdtempSync(join(tmpdir(), 'ws-recycle-'));
  const metrics = createMetrics();
  const { log, lines } = captureLogger();
  const exits: Array<string | undefined> = [];
  const spawns: boolean[] = [];
  let processes = 0;
  let preambles = 0;
  const sup = new TranscoderSupervisor(
    {
      stream: 's',
      ffmpegPath: 'sh',
      args: () => ({ args: ['-c', `cat > ${join(dir, `input-${processes++}`)}; ${after}`], outputs: [] }),
      metrics,
      log,
      inputPreamble: () => [Buffer.from(`[preamble ${preambles++}]`)],
      recycleAfterMs,
    },
    {
      onOutput: () => undefined,
      onSpawn: (recycled) => spawns.push(recycled),
      onExit: (err) => exits.push(err ? (err.signal ?? `code ${err.exitCode}`) : undefined),
    },
  );
  const input = (n: number): string => readFileSync(join(dir, `input-${n}`), 'utf8');
  const count = async (m: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
    (await m.get()).values[0]?.value ?? 0;
  return { sup, metrics, lines, exits, spawns, input, count, preambles: () => preambles };
}

describe('transcoder recycle (TranscoderSupervisor, real processes)', () => {
  it('hands over at the cut point: the old process gets everything before it, the new one the rest, preamble first', async () => {
    const r = recorder('sleep 0.5');
    const { sup } = r;
    sup.start();
    const first = sup.pid!;
    sup.write(Buffer.from('a'));
    // Not due yet: a keyframe is just a keyframe.
    expect(sup.cutPoint()).toBe(false);
    await waitFor(() => sup.recycleDue, 5000, 'the recycle age');
    sup.write(Buffer.from('b'));
    expect(sup.cutPoint()).toBe(true);
    // Only one recycle at a time.
    expect(sup.recycleDue).toBe(false);
    expect(sup.cutPoint()).toBe(false);
    // Written while the old process flushes (its `sleep 0.5`): held, reported as accepted.
    expect(sup.write(Buffer.from('K'))).toBe(true);
    expect(sup.pid).toBe(first);
    sup.write(Buffer.from('c'));
    await waitFor(() => sup.pid !== first, 5000, 'the new process');
    sup.write(Buffer.from('d'));
    const second = sup.pid!;
    expect(alive(first)).toBe(false);
    // The old process ended by itself (its input ended): a clean exit, reported once (the discontinuity).
    expect(r.exits).toEqual([undefined]);
    expect(r.spawns).toEqual([false, true]);
    expect(await r.count(r.metrics.transcoderRecycles)).toBe(1);
    expect(await r.count(r.metrics.ffmpegRestarts)).toBe(0);
    const line = r.lines.find((l) => l.msg === 'transcoder recycled at an input keyframe');
    expect(line).toMatchObject({ oldPid: first, newPid: second });
    expect(line!.ageSec as number).toBeGreaterThanOrEqual(0.3);
    await sup.stop();
    expect(r.input(0)).toBe('[preamble 0]ab');
    // The preamble as it stood at the cut point (taken there, not again at the spawn).
    expect(r.input(1)).toBe('[preamble 1]Kcd');
    expect(r.preambles()).toBe(2);
    expect(alive(second)).toBe(false);
  });

  it('a source paused on the old process is released into the held input, and told to pause again only past the bound', async () => {
    const r = recorder('sleep 0.5');
    const { sup } = r;
    sup.start();
    await waitFor(() => sup.recycleDue, 5000, 'the recycle age');
    let drained = 0;
    // Saturate the old process's stdin and park a source on it, as the RTMP source does.
    let saturated = false;
    for (let i = 0; i < 64 && !saturated; i++) saturated = !sup.write(Buffer.alloc(64 * 1024));
    sup.onceDrain(() => drained++);
    sup.cutPoint();
    expect(drained).toBe(1);
    // While the hand-over lasts, a waiter is called once the new process has the held input.
    let later = 0;
    sup.onceDrain(() => later++);
    expect(later).toBe(0);
    expect(sup.write(Buffer.from('x'))).toBe(true);
    // Held input is bounded (16 MiB): past it the source is told to pause.
    expect(sup.write(Buffer.alloc(16 * 1024 * 1024, 0x2e))).toBe(false);
    await waitFor(() => later === 1, 5000, 'the drain after the hand-over');
    await sup.stop();
    const got = r.input(1);
    expect(got.slice(0, 13)).toBe('[preamble 1]x');
    expect(got.length).toBe(13 + 16 * 1024 * 1024);
  });

  it('a retiring process that does not finish is stopped (SIGTERM) within the bound, and nothing held is lost', async () => {
    const r = recorder('exec sleep 60');
    const { sup } = r;
    sup.start();
    const first = sup.pid!;
    await waitFor(() => sup.recycleDue, 5000, 'the recycle age');
    const cutAt = Date.now();
    expect(sup.cutPoint()).toBe(true);
    sup.write(Buffer.from('held'));
    await waitFor(() => sup.pid !== first, 10_000, 'the new process');
    const waited = Date.now() - cutAt;
    expect(waited).toBeGreaterThanOrEqual(2900);
    expect(waited).toBeLessThan(6000);
    expect(alive(first)).toBe(false);
    expect(r.exits).toEqual(['SIGTERM']);
    expect(await r.count(r.metrics.transcoderRecycles)).toBe(1);
    expect(await r.count(r.metrics.ffmpegRestarts)).toBe(0);
    sup.write(Buffer.from('+'));
    // The new one does not finish by itself either: stop() ends it as always.
    await sup.stop();
    expect(r.input(1)).toBe('[preamble 1]held+');
  });

  it('a kill during the hand-over (an input cut to the live edge) abandons the recycle: a restart, the held input dropped', async () => {
    const r = recorder('exec sleep 60');
    const { sup } = r;
    sup.start();
    const first = sup.pid!;
    await waitFor(() => sup.recycleDue, 5000, 'the recycle age');
    expect(sup.cutPoint()).toBe(true);
    sup.write(Buffer.from('backlog'));
    sup.kill();
    await waitFor(() => sup.pid !== first, 5000, 'the restarted process');
    expect(r.exits).toEqual(['SIGKILL']);
    expect(r.spawns).toEqual([false, false]);
    expect(await r.count(r.metrics.transcoderRecycles)).toBe(0);
    expect(await r.count(r.metrics.ffmpegRestarts)).toBe(1);
    sup.write(Buffer.from('live'));
    await sup.stop();
    // A fresh preamble (the source then waits for its next keyframe), none of the held backlog.
    expect(r.input(1)).toBe('[preamble 2]live');
  });

  it('stop during the hand-over gives the held input to the successor and ends it too', async () => {
    const r = recorder('sleep 0.5');
    const { sup } = r;
    sup.start();
    await waitFor(() => sup.recycleDue, 5000, 'the recycle age');
    expect(sup.cutPoint()).toBe(true);
    sup.write(Buffer.from('tail'));
    await sup.stop();
    expect(r.input(1)).toBe('[preamble 1]tail');
    expect(r.exits).toEqual([undefined]);
    expect(sup.pid === undefined || !alive(sup.pid)).toBe(true);
  });

  it('never recycles with recycleAfterMs 0', async () => {
    const r = recorder('true', 0);
    r.sup.start();
    await new Promise((res) => setTimeout(res, 400));
    expect(r.sup.recycleDue).toBe(false);
    expect(r.sup.cutPoint()).toBe(false);
    await r.sup.stop();
  });
});

describe('where a recycle may cut the RTMP input (isVideoKeyframePicture)', () => {
  // FLV VIDEODATA: FrameType (4 bits) | CodecID (4 bits), then for AVC/HEVC AVCPacketType and a composition time.
  const avc = (frameType: number, packetType: number) =>
    Uint8Array.from([(frameType << 4) | 7, packetType, 0, 0, 0]);
  // Enhanced RTMP: IsExHeader (1 bit) | FrameType (3 bits) | PacketType (4 bits), then a FourCC.
  const ex = (frameType: number, packetType: number) =>
    Uint8Array.from([0x80 | (frameType << 4) | packetType, ...Buffer.from('hvc1')]);

  it('is an AVC or enhanced-RTMP key frame with a picture, never a sequence header or end of sequence', () => {
    expect(isVideoKeyframePicture(avc(1, 1))).toBe(true);
    expect(isVideoKeyframePicture(avc(1, 0))).toBe(false); // sequence header
    expect(isVideoKeyframePicture(avc(1, 2))).toBe(false); // end of sequence (sent as the encoder stops)
    expect(isVideoKeyframePicture(avc(2, 1))).toBe(false); // inter frame
    expect(isVideoKeyframePicture(ex(1, 1))).toBe(true); // CodedFrames
    expect(isVideoKeyframePicture(ex(1, 3))).toBe(true); // CodedFramesX
    expect(isVideoKeyframePicture(ex(1, 0))).toBe(false); // SequenceStart
    expect(isVideoKeyframePicture(ex(1, 2))).toBe(false); // SequenceEnd
    expect(isVideoKeyframePicture(ex(2, 1))).toBe(false);
    expect(isVideoKeyframePicture(Uint8Array.from([0x12, 0xff]))).toBe(true); // Sorenson H.263 key frame
    expect(isVideoKeyframePicture(Uint8Array.from([0x17]))).toBe(false); // truncated
  });
});

describe('config transcoderRecycleSec', () => {
  it('defaults to a day, takes 0 (never) and a few seconds, refuses less than 2 s naming the key', () => {
    expect(parseConfig({}).transcoderRecycleSec).toBe(86_400);
    expect(parseConfig({ transcoderRecycleSec: 0 }).transcoderRecycleSec).toBe(0);
    expect(parseConfig({ transcoderRecycleSec: 4 }).transcoderRecycleSec).toBe(4);
    expect(() => parseConfig({ transcoderRecycleSec: 1 })).toThrow(/transcoderRecycleSec: 0 \(never\)/);
    expect(() => parseConfig({ transcoderRecycleSec: -1 })).toThrow(/transcoderRecycleSec/);
  });
});
