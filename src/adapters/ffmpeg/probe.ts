/**
 * ffprobe over a media file (issue #11, VOD packaging): its duration and the codec of its first video and audio
 * streams. A file ffprobe cannot read (not media, truncated before its index) is a ProbeError with ffprobe's words.
 */
import { execFile } from 'node:child_process';
import { WellspringError } from '../../core/errors.js';

export interface FileProbe {
  durationSec: number;
  /** ffprobe codec names: h264, hevc, aac, opus... undefined when the file has no such stream. */
  videoCodec?: string;
  audioCodec?: string;
  width?: number;
  height?: number;
  frameRate?: number;
  /** Container format names (e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"). */
  format: string;
}

export class ProbeError extends WellspringError {
  constructor(message: string) {
    super('PROBE', message);
  }
}

interface ProbeJson {
  format?: { duration?: string; format_name?: string };
  streams?: Array<{
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    duration?: string;
  }>;
}

function rate(r: string | undefined): number | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(r ?? '');
  if (!m || Number(m[2]) === 0) return undefined;
  return Number(m[1]) / Number(m[2]);
}

/** Probes a file; ffprobe is found beside ffmpeg (same directory) or on PATH. */
export function probeFile(file: string, ffmpegPath = 'ffmpeg', timeoutMs = 30_000): Promise<FileProbe> {
  const ffprobe = ffmpegPath.includes('/') ? ffmpegPath.replace(/ffmpeg([^/]*)$/, 'ffprobe$1') : 'ffprobe';
  const args = ['-v', 'error', '-show_entries', 'format=duration,format_name:stream', '-of', 'json', file];
  return new Promise((resolve, reject) => {
    execFile(ffprobe, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const why = String(stderr).trim().split('\n').slice(-2).join(' | ');
      if (err) return reject(new ProbeError(`not a readable media file: ${why || err.message}`));
      let j: ProbeJson;
      try {
        j = JSON.parse(String(stdout)) as ProbeJson;
      } catch {
        return reject(new ProbeError('ffprobe gave no description'));
      }
      const v = j.streams?.find((s) => s.codec_type === 'video');
      const a = j.streams?.find((s) => s.codec_type === 'audio');
      const durationSec = Number(j.format?.duration ?? v?.duration ?? a?.duration);
      if (!v && !a) return reject(new ProbeError('the file has no audio or video stream'));
      if (!Number.isFinite(durationSec) || durationSec <= 0)
        return reject(new ProbeError('the file has no duration (truncated or not seekable)'));
      resolve({
        durationSec,
        videoCodec: v?.codec_name,
        audioCodec: a?.codec_name,
        width: v?.width,
        height: v?.height,
        frameRate: rate(v?.avg_frame_rate),
        format: j.format?.format_name ?? 'unknown',
      });
    });
  });
}
