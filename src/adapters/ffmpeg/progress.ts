/** ffmpeg's -progress output: key=value lines, each block ending with progress=continue|end. */
export interface FfmpegProgress {
  frame: number;
  fps: number;
  /** Encoding speed relative to real time (1.0 = real time). */
  speed: number;
  dropFrames: number;
  dupFrames: number;
  outTimeUs: number;
  end: boolean;
}

/** Incremental parser: feed stdout text, get a FfmpegProgress per completed block. */
export class ProgressParser {
  private partial = '';
  private block: Record<string, string> = {};

  push(text: string): FfmpegProgress[] {
    const out: FfmpegProgress[] = [];
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const i = line.indexOf('=');
      if (i <= 0) continue;
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      this.block[k] = v;
      if (k === 'progress') {
        const b = this.block;
        this.block = {};
        out.push({
          frame: Number(b.frame ?? 0),
          fps: Number(b.fps ?? 0),
          speed: Number.parseFloat(b.speed ?? '0') || 0,
          dropFrames: Number(b.drop_frames ?? 0),
          dupFrames: Number(b.dup_frames ?? 0),
          outTimeUs: Number(b.out_time_us ?? b.out_time_ms ?? 0),
          end: v === 'end',
        });
      }
    }
    return out;
  }
}
