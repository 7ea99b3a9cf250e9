/** ffmpeg as a DASH-IF CMAF ingest sender: one long-running chunked POST per track (video and audio). */
import { spawn } from 'node:child_process';
import type { Encoder } from './harness.js';

export interface CmafSenderOptions {
  /** Base URL of the publishing point, e.g. http://127.0.0.1:8090/ingest/cam */
  base: string;
  /** Appended to each track URL (e.g. "?key=..."). */
  query?: string;
  seconds: number;
  /** Fragment (part) duration, seconds. */
  fragmentSec?: number;
  /** Keyframe interval in frames (30 fps). */
  gop?: number;
  audio?: boolean;
  size?: string;
}

/** ffmpeg mp4 muxer arguments for a CMAF track sent as one chunked POST (the DASH-IF ingest way). */
export function cmafOutput(url: string, fragmentSec: number): string[] {
  return [
    '-f',
    'mp4',
    '-movflags',
    '+cmaf+frag_keyframe+empty_moov+default_base_moof',
    '-frag_duration',
    String(Math.round(fragmentSec * 1e6)),
    '-flush_packets',
    '1',
    '-method',
    'POST',
    url,
  ];
}

/**
 * A paced test pattern (and tone) sent as CMAF tracks `video.cmfv` and `audio.cmfa`. Deterministic: two senders
 * started with the same options produce the same timestamps (tfdt) for the same media.
 */
export function cmafSender(o: CmafSenderOptions): Encoder {
  const frag = o.fragmentSec ?? 0.25;
  const q = o.query ?? '';
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${o.size ?? '320x240'}:rate=30:duration=${o.seconds}`,
    ...(o.audio === false
      ? []
      : ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${o.seconds}`]),
    '-map',
    '0:v',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    String(o.gop ?? 30),
    '-keyint_min',
    String(o.gop ?? 30),
    '-sc_threshold',
    '0',
    '-threads',
    '1',
    '-pix_fmt',
    'yuv420p',
    ...cmafOutput(`${o.base}/video.cmfv${q}`, frag),
    ...(o.audio === false
      ? []
      : ['-map', '1:a', '-c:a', 'aac', '-b:a', '64k', ...cmafOutput(`${o.base}/audio.cmfa${q}`, frag)]),
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    done,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return done;
    },
  };
}
