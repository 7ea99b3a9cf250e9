import { describe, expect, it } from 'vitest';
import { buildTranscodeArgs } from '../../src/adapters/ffmpeg/args.js';
import { parseConfig, streamSettings } from '../../src/config.js';

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
});
