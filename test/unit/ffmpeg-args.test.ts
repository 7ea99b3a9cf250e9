import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildTranscodeArgs } from '../../src/adapters/ffmpeg/args.js';
import { parseConfig, streamSettings } from '../../src/config.js';
import { CmafStreamReader } from '../../src/core/index.js';

const settings = streamSettings(parseConfig({}), 'a');
const spec = (decoderThreads?: number) => ({
  input: { kind: 'flv-stdin' as const },
  ladder: settings.ladder,
  audio: true,
  audioBitrateK: 128,
  segmentSec: 2,
  partSec: 0.2,
  fps: 30,
  decoderThreads,
});

/** The option values given between the n-th "-map" and the next one. */
function outputOptions(args: string[]): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === '-map') out.push([]);
    if (out.length) out[out.length - 1]!.push(args[i]!);
  });
  return out;
}

describe('transcoder arguments', () => {
  it('gives the decoder its thread count before the input, and none when 0', () => {
    const { args } = buildTranscodeArgs(spec(1));
    const input = args.indexOf('-i');
    expect(args.slice(0, input).join(' ')).toContain('-threads 1');
    const auto = buildTranscodeArgs(spec(0)).args;
    expect(auto.slice(0, auto.indexOf('-i'))).not.toContain('-threads');
  });

  it('gives every encoded rung its own x264 thread count (default 1) and low-delay settings', () => {
    expect(settings.ladder.map((r) => r.threads)).toEqual([1, 1, 1]);
    expect(settings.ladder.map((r) => r.preset)).toEqual(['superfast', 'superfast', 'superfast']);
    const { args, outputs } = buildTranscodeArgs(spec(1));
    const perOutput = outputOptions(args);
    expect(perOutput).toHaveLength(outputs.length);
    for (const o of perOutput.slice(0, 3)) {
      const s = o.join(' ');
      expect(s).toContain('-threads 1');
      expect(s).toContain('-tune zerolatency');
      expect(s).toContain('-bf 0');
    }
    expect(perOutput[3]!.join(' ')).not.toContain('-threads');
  });

  it('leaves the thread count to x264 when a rung says 0', () => {
    const ladder = settings.ladder.map((r, i) => ({ ...r, threads: i === 0 ? 0 : 3 }));
    const perOutput = outputOptions(buildTranscodeArgs({ ...spec(1), ladder }).args);
    expect(perOutput[0]!.join(' ')).not.toContain('-threads');
    expect(perOutput[1]!.join(' ')).toContain('-threads 3');
  });

  it('puts a keyframe at every segment start by default (GOP = segment) on every rung', () => {
    const perOutput = outputOptions(buildTranscodeArgs(spec(1)).args);
    for (const o of perOutput.slice(0, 3)) {
      expect(o[o.indexOf('-g') + 1]).toBe('60');
      expect(o[o.indexOf('-keyint_min') + 1]).toBe('60');
      expect(o[o.indexOf('-force_key_frames') + 1]).toBe('expr:gte(t,n_forced*2-0.001)');
    }
  });

  it('makes parts independent more often when a rung sets keyframeSec', () => {
    const ladder = parseConfig({
      defaults: {
        ladder: settings.ladder.map((r) => ({ ...r, keyframeSec: 0.4 })),
      },
    }).defaults.ladder!;
    const perOutput = outputOptions(buildTranscodeArgs({ ...spec(1), ladder }).args);
    for (const o of perOutput.slice(0, 3)) {
      expect(o[o.indexOf('-g') + 1]).toBe('12');
      expect(o[o.indexOf('-keyint_min') + 1]).toBe('12');
      expect(o[o.indexOf('-force_key_frames') + 1]).toBe('expr:gte(t,n_forced*0.4-0.001)');
    }
    // The audio output has no GOP.
    expect(perOutput[3]!).not.toContain('-g');
  });

  it('refuses a keyframe interval outside 0.1-10 s', () => {
    expect(() =>
      parseConfig({
        defaults: { ladder: [{ name: 'a', height: 360, videoBitrateK: 500, keyframeSec: 0.05 }] },
      }),
    ).toThrow(/keyframeSec/);
  });

  it('puts audio on a sample-counted timeline before the AAC encoder, for every input kind', () => {
    const inputs = [
      { kind: 'flv-stdin' as const },
      { kind: 'mpegts-stdin' as const },
      { kind: 'mp4-stdin' as const },
      { kind: 'srt-listener' as const, port: 9000, host: '127.0.0.1', latencyMs: 120 },
    ];
    for (const input of inputs) {
      const { args, outputs } = buildTranscodeArgs({ ...spec(1), input });
      const audio = outputOptions(args)[outputs.findIndex((o) => o.kind === 'audio')]!;
      const af = audio[audio.indexOf('-af') + 1];
      // 48 kHz first, then stamped by samples put out (async), anchored past the AAC priming.
      expect(af).toBe('aresample=48000,aresample=async=1:first_pts=1024');
      expect(audio.indexOf('-af')).toBeLessThan(audio.indexOf('-c:a'));
      expect(audio.slice(audio.indexOf('-c:a'), audio.indexOf('-c:a') + 2)).toEqual(['-c:a', 'aac']);
      expect(audio.join(' ')).toContain('-ar 48000 -ac 2');
      // No delay_moov: the init segment still goes out before the first fragment.
      expect(audio[audio.indexOf('-movflags') + 1]).toBe('+empty_moov+default_base_moof+cmaf');
    }
  });

  // Real ffmpeg, the arguments as built: where the keyframes land decides every part's length, and the longest
  // part sets PART-TARGET (and PART-HOLD-BACK) for the whole stream.
  it.each([
    { keyframeSec: 0.2, syncEvery: 1 },
    { keyframeSec: 0.4, syncEvery: 2 },
  ])(
    'with keyframeSec $keyframeSec and 0.2 s parts, ffmpeg cuts every chunk at 6 frames (30 fps), a keyframe every $syncEvery',
    async ({ keyframeSec, syncEvery }) => {
      const ladder = parseConfig({
        defaults: {
          ladder: [{ name: '180p', height: 180, videoBitrateK: 200, preset: 'ultrafast', keyframeSec }],
        },
      }).defaults.ladder!;
      const { args } = buildTranscodeArgs({
        ...spec(1),
        input: { kind: 'lavfi', video: 'testsrc2=size=320x180:rate=30:duration=3' },
        ladder,
        audio: false,
      });
      const ff = spawn(
        'ffmpeg',
        args.filter((a) => a !== '-re'),
        { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      ff.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const reader = new CmafStreamReader();
      const chunks: Array<{ frames: number; sync: boolean }> = [];
      (ff.stdio[3] as Readable).on('data', (d: Buffer) => {
        for (const e of reader.push(d))
          if (e.kind === 'chunk') chunks.push({ frames: e.info.sampleCount, sync: e.info.startsWithSync });
      });
      const code = await new Promise<number | null>((r) => ff.once('close', r));
      expect(code, stderr).toBe(0);
      // 3 s at 30 fps: 15 chunks of 6 frames.
      expect(chunks.map((c) => c.frames)).toEqual(Array(15).fill(6));
      expect(chunks.map((c) => c.sync)).toEqual(chunks.map((_, i) => i % syncEvery === 0));
    },
    30_000,
  );
});
