/**
 * One ffmpeg process: spawned with an extra pipe per rendition (fd 3 and up), its -progress output parsed,
 * stderr kept as a bounded tail for errors, its exit reported as FfmpegExitError.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { WellspringError } from '../../core/errors.js';
import { track } from '../process/children.js';
import type { LadderOutput } from './args.js';
import { InputDumpParser, type SourceDescription, splitLogLine } from './input-dump.js';
import { type FfmpegProgress, ProgressParser } from './progress.js';

export class FfmpegExitError extends WellspringError {
  constructor(
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderrTail: string,
  ) {
    super(
      'FFMPEG_EXIT',
      `ffmpeg exited (${signal ?? `code ${exitCode}`}): ${stderrTail.split('\n').slice(-3).join(' | ')}`,
    );
  }
}

export interface TranscoderEvents {
  onOutput(output: LadderOutput, data: Buffer): void;
  onProgress?(p: FfmpegProgress): void;
  /** A warning or error line from ffmpeg (info-level lines are read here, not passed on). */
  onStderrLine?(line: string): void;
  /** ffmpeg has probed its input: its streams, languages and whether the video carries captions. */
  onSourceInfo?(info: SourceDescription): void;
  onExit(err: FfmpegExitError | undefined): void;
}

const STDERR_TAIL_BYTES = 8192;

export class Transcoder {
  readonly child: ChildProcess;
  private stderrTail = '';
  private exited = false;
  private readonly startedAt = Date.now();
  /** Why the requested priority (options.nice) could not be set, if it could not (EACCES without privilege). */
  readonly priorityError?: Error;

  constructor(
    ffmpegPath: string,
    readonly args: string[],
    readonly outputs: LadderOutput[],
    events: TranscoderEvents,
    options: { nice?: number } = {},
  ) {
    const maxFd = Math.max(2, ...outputs.map((o) => o.fd));
    const stdio: Array<'pipe' | 'ignore'> = Array.from({ length: maxFd + 1 }, () => 'pipe');
    this.child = track(spawn(ffmpegPath, args, { stdio, detached: true }));
    if (options.nice && this.child.pid !== undefined) {
      try {
        setPriority(this.child.pid, options.nice);
      } catch (err) {
        this.priorityError = err as Error;
      }
    }
    const progress = new ProgressParser();
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (t: string) => {
      for (const p of progress.push(t)) events.onProgress?.(p);
    });
    let lineBuf = '';
    const dump = new InputDumpParser();
    const onLine = (raw: string): void => {
      // ffmpeg runs at info level with level tags (args.ts): info and more verbose lines feed the input
      // description; warnings and errors (and untagged lines) are what the tail and the log get, as before.
      const { level, text } = splitLogLine(raw.trimEnd());
      if (level === 'info' || level === 'verbose' || level === 'debug' || level === 'trace') {
        const info = dump.push(text);
        if (info) events.onSourceInfo?.(info);
        return;
      }
      if (!text.trim()) return;
      const listed = dump.finish();
      if (listed) events.onSourceInfo?.(listed);
      this.stderrTail = `${this.stderrTail}${text}\n`.slice(-STDERR_TAIL_BYTES);
      events.onStderrLine?.(text.trim());
    };
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (t: string) => {
      const lines = (lineBuf + t).split('\n');
      lineBuf = lines.pop() ?? '';
      for (const raw of lines) onLine(raw);
    });
    this.child.stderr?.on('end', () => {
      if (lineBuf) onLine(lineBuf);
      lineBuf = '';
      const listed = dump.finish();
      if (listed) events.onSourceInfo?.(listed);
    });
    for (const o of outputs) {
      const r = this.child.stdio[o.fd] as Readable | null;
      r?.on('data', (d: Buffer) => events.onOutput(o, d));
      r?.on('error', () => undefined);
    }
    this.stdin?.on('error', () => undefined); // EPIPE after ffmpeg died is reported through exit
    this.child.on('error', (err) => {
      if (this.exited) return;
      this.exited = true;
      events.onExit(new FfmpegExitError(null, null, `${err.message}\n${this.stderrTail}`));
    });
    this.child.on('close', (code, signal) => {
      if (this.exited) return;
      this.exited = true;
      events.onExit(code === 0 ? undefined : new FfmpegExitError(code, signal, this.stderrTail));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdin(): Writable | null {
    return this.child.stdin;
  }

  get running(): boolean {
    return !this.exited;
  }

  get uptimeMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Writes source bytes; returns false when ffmpeg's stdin is saturated. */
  write(data: Uint8Array): boolean {
    const s = this.child.stdin;
    if (!s || s.destroyed || !s.writable) return true;
    return s.write(data);
  }

  /** Ends the input so ffmpeg flushes and exits by itself. */
  endInput(): void {
    this.child.stdin?.end();
  }

  /** Stops ffmpeg: SIGTERM, then SIGKILL after graceMs. Resolves when it has exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      this.child.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.child.kill('SIGTERM');
    });
  }
}
