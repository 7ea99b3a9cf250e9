/**
 * A small typed builder for the ffmpeg command lines Wellspring runs: one input, an ABR ladder filter graph and
 * one fragmented-CMAF output per rendition written to its own pipe (fd 3 and up). Arguments are arrays for
 * child_process.spawn: nothing is ever parsed by a shell.
 */
import type { Rung } from '../../config.js';

export type FfmpegInput =
  | { kind: 'flv-stdin' }
  | { kind: 'mpegts-stdin' }
  /** Fragmented MP4 (init then fragments) on stdin. */
  | { kind: 'mp4-stdin' }
  | {
      kind: 'srt-listener';
      port: number;
      host: string;
      latencyMs: number;
      passphrase?: string;
      pbkeylen?: number;
    }
  /** A lavfi test source (the demo's and the benchmarks' synthetic stream). */
  | { kind: 'lavfi'; video: string; audio?: string }
  /** A media file (MP4/MOV/MKV) read as fast as ffmpeg can: VOD packaging (issue #11). */
  | { kind: 'file'; path: string };

export interface LadderOutput {
  rendition: string;
  kind: 'video' | 'audio';
  /** Child file descriptor the CMAF bytes arrive on. */
  fd: number;
}

export interface TranscodeSpec {
  input: FfmpegInput;
  ladder: Rung[];
  /** Include an AAC rendition named "audio". */
  audio: boolean;
  /**
   * How many of the source's audio tracks to package, in the source's order (default 1): track i becomes the
   * rendition audioRenditionName(i). ffmpeg fixes its outputs before it has read the input, so this is configured.
   */
  audioTracks?: number;
  audioBitrateK: number;
  segmentSec: number;
  partSec: number;
  fps: number;
  /** Decoder threads (frame threading delays threads-1 frames); 0 or absent: ffmpeg decides. */
  decoderThreads?: number;
}

/** The fMP4/CMAF muxer flags: an init segment, then one moof+mdat per part duration, flushed as written. */
function cmafMuxer(partSec: number, video: boolean): string[] {
  const flags = video
    ? '+frag_keyframe+empty_moov+default_base_moof+cmaf'
    : '+empty_moov+default_base_moof+cmaf';
  return [
    '-f',
    'mp4',
    '-movflags',
    flags,
    '-frag_duration',
    String(Math.round(partSec * 1e6)),
    '-flush_packets',
    '1',
  ];
}

/** The rendition made from the source's i-th audio track: "audio" for the first (as always), then "audio-2".. */
export function audioRenditionName(i: number): string {
  return i === 0 ? 'audio' : `audio-${i + 1}`;
}

/** Which source audio track a rendition name made by audioRenditionName stands for (0 for anything else). */
export function audioTrackIndex(rendition: string): number {
  const m = /^audio-(\d+)$/.exec(rendition);
  return m ? Number(m[1]) - 1 : 0;
}

/** The AAC encoder's priming: its first packet carries 1024 samples of delay, stamped 1024 before its input. */
export const AAC_PRIMING_SAMPLES = 1024;
export const AUDIO_SAMPLE_RATE = 48000;

/**
 * Audio on a timeline counted in samples. A millisecond input clock (RTMP/FLV) stamps 1024-sample frames 21 or
 * 22 ms apart; encoded as is, the mp4 muxer writes sample durations of 1016/1024/1032. So: resample to 48 kHz,
 * then let a second resampler (48 kHz to 48 kHz, async) stamp every frame by the samples it has put out, filling
 * or trimming only when the input clock strays by more than its tolerance (first_pts anchors it). first_pts is
 * the AAC priming: the first 1024 input samples (time 0 to 1024) are dropped, so the encoder's first packet is
 * stamped 0 and decoded sample n lands at input time n: audio stays where the video is, without an edit list
 * (a fragmented moov written before the first packet has none) and without the muxer shifting a -1024 start.
 * When the audio starts later than the video, the same anchor fills the start with silence.
 */
export function audioTimingFilter(): string {
  return [`aresample=${AUDIO_SAMPLE_RATE}`, `aresample=async=1:first_pts=${AAC_PRIMING_SAMPLES}`].join(',');
}

function inputArgs(input: FfmpegInput, decoderThreads: number | undefined): string[] {
  // Probe briefly (FLV metadata and decoder configuration arrive first). Not +nobuffer: it discards the
  // packets read while probing, the first keyframe among them.
  const lowDelay = [
    '-fflags',
    '+genpts',
    '-analyzeduration',
    '500000',
    '-probesize',
    '500000',
    ...(decoderThreads ? ['-threads', String(decoderThreads)] : []),
  ];
  switch (input.kind) {
    case 'flv-stdin':
      return [...lowDelay, '-f', 'flv', '-i', 'pipe:0'];
    case 'mpegts-stdin':
      return [...lowDelay, '-f', 'mpegts', '-i', 'pipe:0'];
    case 'mp4-stdin':
      return [...lowDelay, '-f', 'mov', '-i', 'pipe:0'];
    case 'srt-listener': {
      // ffmpeg decodes %XX in URL options but not '+', so encode each value with encodeURIComponent.
      const q: Array<[string, string]> = [
        ['mode', 'listener'],
        ['latency', String(input.latencyMs * 1000)],
        ['transtype', 'live'],
      ];
      if (input.passphrase)
        q.push(['passphrase', input.passphrase], ['pbkeylen', String(input.pbkeylen ?? 16)]);
      const query = q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      return [...lowDelay, '-f', 'mpegts', '-i', `srt://${input.host}:${input.port}?${query}`];
    }
    case 'file':
      // Whole-file input: probe as ffmpeg likes (no low-delay limits), decoder threads as configured.
      return [...(decoderThreads ? ['-threads', String(decoderThreads)] : []), '-i', input.path];
    case 'lavfi':
      return [
        '-re',
        '-f',
        'lavfi',
        '-i',
        input.video,
        ...(input.audio ? ['-f', 'lavfi', '-i', input.audio] : []),
      ];
  }
}

/** Builds the full argument list and the fd of each rendition's output. */
export function buildTranscodeArgs(spec: TranscodeSpec): { args: string[]; outputs: LadderOutput[] } {
  const args = [
    '-hide_banner',
    '-nostdin',
    // Info level, each line prefixed with its level: the input's stream list (languages, "Closed Captions") is
    // printed at info; the transcoder reads it and passes only warnings and errors on (transcoder.ts).
    '-loglevel',
    'level+info',
    '-nostats',
    '-progress',
    'pipe:1',
    '-stats_period',
    // A file runs faster than real time: report four times a second, so a short file's job shows progress.
    spec.input.kind === 'file' ? '0.25' : '1',
  ];
  if (spec.input.kind.endsWith('-stdin')) args.splice(args.indexOf('-nostdin'), 1);
  args.push(...inputArgs(spec.input, spec.decoderThreads));
  const audioInput = spec.input.kind === 'lavfi' && spec.input.audio ? '1:a' : '0:a';
  const encoded = spec.ladder.filter((r) => !r.passthrough);
  const outputs: LadderOutput[] = [];

  if (encoded.length > 0) {
    // Decode once, one frame rate, split, scale each rung (width follows the aspect ratio, rounded to even).
    const labels = encoded.map((_, i) => `v${i}`);
    const chains = encoded.map(
      (r, i) => `[${labels[i]}]scale=-2:${r.height}:flags=bilinear,format=yuv420p[o${i}]`,
    );
    args.push(
      '-filter_complex',
      `[0:v]fps=${spec.fps},split=${encoded.length}${labels.map((l) => `[${l}]`).join('')};${chains.join(';')}`,
    );
  }

  let fd = 3;
  let enc = 0;
  for (const r of spec.ladder) {
    if (r.passthrough) {
      args.push('-map', '0:v:0', '-c:v', 'copy');
    } else {
      const kbps = r.videoBitrateK!;
      // Keyframes (independent parts) every keyframeSec, default one per segment; the segment grid stays.
      const keySec = r.keyframeSec ?? spec.segmentSec;
      const gop = Math.max(1, Math.round(keySec * spec.fps));
      args.push(
        '-map',
        `[o${enc++}]`,
        '-c:v',
        'libx264',
        '-preset',
        r.preset,
        '-tune',
        'zerolatency',
        '-profile:v',
        r.profile,
        '-b:v',
        `${kbps}k`,
        '-maxrate',
        `${Math.round(kbps * 1.1)}k`,
        '-bufsize',
        `${kbps}k`,
        // Aligned keyframes on every rung: fixed GOP (segment duration unless keyframeSec), no scene-cut
        // keyframes, no B-frames.
        '-g',
        String(gop),
        '-keyint_min',
        String(gop),
        '-sc_threshold',
        '0',
        '-bf',
        '0',
        // 1 ms short of each multiple: frame times (n / fps) and n_forced * keySec are floating point, and
        // without it a frame that lands exactly on a multiple can compare just below it (30 fps, 0.2 s: 12/30 <
        // 2 * 0.2), which moves that keyframe a frame late and the next one early. Parts then came out 7 and
        // 5 + 6 frames long, and the longest one set PART-TARGET, and PART-HOLD-BACK with it, for the whole
        // stream (0.367 and 1.1 s instead of 0.2 and 0.6 s).
        '-force_key_frames',
        `expr:gte(t,n_forced*${keySec}-0.001)`,
        ...(r.threads ? ['-threads', String(r.threads)] : []),
      );
    }
    args.push(...cmafMuxer(spec.partSec, true), `pipe:${fd}`);
    outputs.push({ rendition: r.name, kind: 'video', fd });
    fd++;
  }
  for (let i = 0; spec.audio && i < Math.max(1, spec.audioTracks ?? 1); i++) {
    args.push(
      '-map',
      `${audioInput}:${i}`,
      '-af',
      audioTimingFilter(),
      '-c:a',
      'aac',
      '-b:a',
      `${spec.audioBitrateK}k`,
      '-ar',
      String(AUDIO_SAMPLE_RATE),
      '-ac',
      '2',
    );
    args.push(...cmafMuxer(spec.partSec, false), `pipe:${fd}`);
    outputs.push({ rendition: audioRenditionName(i), kind: 'audio', fd });
    fd++;
  }
  return { args, outputs };
}
