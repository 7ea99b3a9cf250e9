/**
 * The stamped live source: frames are made here, each with the wall-clock time it is handed to the encoder
 * painted in as a machine-readable code (stamp.ts), plus a burned-in human-readable clock; audio (a beep each
 * second) is made on the same timeline and fed beside it, so ffmpeg never waits on a second clock. Paced on the
 * wall clock and published over RTMP (FLV) or SRT (MPEG-TS).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { track } from '../../src/adapters/process/children.js';
import { DEFAULT_FONT, publishEncoderArgs } from './test-source.js';
import { paintStamp } from '../latency/stamp.js';

export interface StampedSourceOptions {
  url: string;
  width?: number;
  height?: number;
  fps?: number;
  durationSec?: number;
  ffmpegPath?: string;
  bitrateK?: number;
  /** Replaces the output (`-f flv URL`), e.g. ffmpeg's own HLS writer for a reference. */
  outputArgs?: string[];
}

const SAMPLE_RATE = 48_000;

/** A moving picture: diagonal bars scrolling one step per frame, one row copy each. */
export class FrameMaker {
  readonly frameBytes: number;
  private readonly line: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.frameBytes = (width * height * 3) / 2;
    this.line = new Uint8Array(width * 2);
    for (let x = 0; x < this.line.length; x++)
      this.line[x] = 60 + Math.round(100 * (0.5 + 0.5 * Math.sin((x / 48) * Math.PI)));
  }

  /** A yuv420p frame for frame index i with the stamp for unixMs. */
  frame(i: number, unixMs: number): Buffer {
    const { width: w, height: h } = this;
    const buf = Buffer.allocUnsafe(this.frameBytes);
    for (let y = 0; y < h; y++) {
      const off = (i * 4 + y) % w;
      buf.set(this.line.subarray(off, off + w), y * w);
    }
    paintStamp(buf, w, h, unixMs);
    buf.fill(128, w * h); // neutral chroma
    return buf;
  }
}

/** One frame's worth of stereo s16le audio at frame index i: a 100 ms 1 kHz beep at the start of every second. */
function audioFor(i: number, fps: number): Buffer {
  const first = Math.round((i * SAMPLE_RATE) / fps);
  const n = Math.round(((i + 1) * SAMPLE_RATE) / fps) - first;
  const b = Buffer.alloc(n * 4);
  for (let k = 0; k < n; k++) {
    const s = first + k;
    const v =
      s % SAMPLE_RATE < SAMPLE_RATE / 10
        ? Math.round(8000 * Math.sin((2 * Math.PI * 1000 * s) / SAMPLE_RATE))
        : 0;
    b.writeInt16LE(v, k * 4);
    b.writeInt16LE(v, k * 4 + 2);
  }
  return b;
}

export function stampedSourceArgs(
  o: Required<Pick<StampedSourceOptions, 'width' | 'height' | 'fps' | 'bitrateK'>> & { url: string },
): string[] {
  const clock = existsSync(DEFAULT_FONT)
    ? [
        `-vf`,
        `drawtext=fontfile='${DEFAULT_FONT}':text='%{localtime\\:%T}  frame %{n}':fontsize=${Math.round(o.height / 14)}:fontcolor=white:box=1:boxcolor=black@0.7:x=(w-text_w)/2:y=h-th-${Math.round(o.height / 10)}`,
      ]
    : [];
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'yuv420p',
    '-s',
    `${o.width}x${o.height}`,
    '-r',
    String(o.fps),
    '-thread_queue_size',
    '64',
    '-i',
    'pipe:0',
    '-f',
    's16le',
    '-ar',
    String(SAMPLE_RATE),
    '-ac',
    '2',
    '-thread_queue_size',
    '64',
    '-i',
    'pipe:3',
    ...clock,
    ...publishEncoderArgs(o.fps, o.bitrateK, o.url),
  ];
}

/** Frames the encoder's pipe may hold before the source drops frames instead of queueing them. */
const MAX_QUEUED_FRAMES = 8;

export class StampedSource {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  frames = 0;
  /** Frames not handed to the encoder because it was behind (its pipe held MAX_QUEUED_FRAMES already). */
  droppedFrames = 0;
  readonly done: Promise<number | null>;
  private resolveDone: (code: number | null) => void = () => undefined;

  /** The encoder process (tests pause it to play a machine that cannot keep up). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Bytes waiting in the encoder's video pipe. */
  get queuedBytes(): number {
    return this.child?.stdin?.writableLength ?? 0;
  }

  constructor(private readonly o: StampedSourceOptions) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  start(): void {
    const width = this.o.width ?? 1280;
    const height = this.o.height ?? 720;
    const fps = this.o.fps ?? 30;
    const args = stampedSourceArgs({
      url: this.o.url,
      width,
      height,
      fps,
      bitrateK: this.o.bitrateK ?? 4000,
    });
    if (this.o.outputArgs) args.splice(args.length - 3, 3, ...this.o.outputArgs);
    const child = track(
      spawn(this.o.ffmpegPath ?? 'ffmpeg', args, {
        stdio: ['pipe', 'ignore', 'inherit', 'pipe'],
        detached: true,
      }),
    );
    this.child = child;
    child.on('exit', (code) => {
      clearTimeout(this.timer);
      this.resolveDone(code);
    });
    const video = child.stdin!;
    const audio = child.stdio[3] as Writable;
    video.on('error', () => undefined);
    audio.on('error', () => undefined);
    const maker = new FrameMaker(width, height);
    const frameMs = 1000 / fps;
    const audioFrameBytes = audioFor(0, fps).length;
    const total = this.o.durationSec ? Math.round(this.o.durationSec * fps) : Number.POSITIVE_INFINITY;
    const t0 = performance.now();
    // STAMPED_SOURCE_REPORT_MS: a line on stderr that often with the frames made and dropped so far (bench:latency
    // puts the source's drops on its timeline: a dropped frame is media time the stream never gets).
    const every = Number(process.env.STAMPED_SOURCE_REPORT_MS ?? 0);
    const report =
      every > 0
        ? setInterval(() => {
            process.stderr.write(
              `stamped-source ${JSON.stringify({ atMs: Date.now(), frames: this.frames, dropped: this.droppedFrames })}\n`,
            );
          }, every).unref()
        : undefined;
    child.on('exit', () => clearInterval(report));
    const tick = (): void => {
      if (this.frames >= total) {
        video.end();
        audio.end();
        return;
      }
      // An encoder that falls behind (a loaded machine) must not make this process buffer frames without bound
      // (the demo grew to 1.3-1.8 GB RSS that way): like a camera, drop the frame (video and audio together, so
      // they stay in step) while more than MAX_QUEUED_FRAMES are waiting in the pipe.
      // Only when both pipes back up: ffmpeg opening its inputs reads the audio pipe while the video one waits,
      // and a source that then held back audio too would never start it.
      if (
        video.writableLength > MAX_QUEUED_FRAMES * maker.frameBytes &&
        audio.writableLength > MAX_QUEUED_FRAMES * audioFrameBytes
      )
        this.droppedFrames++;
      else {
        // The stamp is the moment this frame is handed to the encoder.
        video.write(maker.frame(this.frames, Date.now()));
        audio.write(audioFor(this.frames, fps));
      }
      this.frames++;
      this.timer = setTimeout(tick, Math.max(0, t0 + this.frames * frameMs - performance.now()));
    };
    tick();
  }

  async stop(): Promise<number | null> {
    clearTimeout(this.timer);
    if (this.child && this.child.exitCode === null) {
      this.child.stdin?.end();
      (this.child.stdio[3] as Writable | null)?.end();
      setTimeout(() => this.child?.kill('SIGKILL'), 3000).unref();
    }
    return this.done;
  }
}
