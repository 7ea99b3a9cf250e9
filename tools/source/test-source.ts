/**
 * The built-in synthetic live source: a moving test pattern with the wall clock burned in, and a tone, made by
 * one lavfi graph so audio and video share one clock, encoded for low delay and published in real time.
 */
import { existsSync } from 'node:fs';

export const DEFAULT_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf';

export interface TestSourceOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Stop after this many seconds (default: run until killed). */
  durationSec?: number;
  /** Output: an RTMP or SRT URL; the container follows from the scheme. */
  url: string;
  fontFile?: string;
}

/**
 * How the synthetic sources encode before publishing, as a low-delay encoder would: x264 zerolatency, one
 * keyframe a second, no B-frames, constrained bitrate; AAC audio; the container follows from the URL scheme.
 */
export function publishEncoderArgs(fps: number, bitrateK: number, url?: string): string[] {
  const out = [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-pix_fmt',
    'yuv420p',
    '-g',
    String(fps),
    '-bf',
    '0',
    '-b:v',
    `${bitrateK}k`,
    '-maxrate',
    `${bitrateK}k`,
    '-bufsize',
    `${Math.round(bitrateK / 2)}k`,
    '-c:a',
    'aac',
    '-b:a',
    '128k',
  ];
  return url ? [...out, '-flush_packets', '1', '-f', url.startsWith('srt://') ? 'mpegts' : 'flv', url] : out;
}

/** Escapes a value for use inside a single-quoted filter argument. */
const q = (s: string): string => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/:/g, '\\:');

export function testSourceArgs(o: TestSourceOptions): string[] {
  const w = o.width ?? 1280;
  const h = o.height ?? 720;
  const fps = o.fps ?? 30;
  const font = o.fontFile ?? DEFAULT_FONT;
  const dur = o.durationSec ? `:duration=${o.durationSec}` : '';
  const text = existsSync(font)
    ? `,drawtext=fontfile='${q(font)}':text='%{localtime\\:%T} UTC  media %{pts\\:hms}':fontsize=${Math.round(h / 16)}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8:x=(w-text_w)/2:y=h-th-${Math.round(h / 12)}`
    : '';
  const graph = `testsrc2=size=${w}x${h}:rate=${fps}${dur}${text}[out0];sine=frequency=880:beep_factor=4:sample_rate=48000${dur}[out1]`;
  const container = o.url.startsWith('srt://') ? 'mpegts' : 'flv';
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    graph,
    ...publishEncoderArgs(fps, 4000),
    '-ar',
    '48000',
    '-ac',
    '2',
    '-f',
    container,
    o.url,
  ];
}
