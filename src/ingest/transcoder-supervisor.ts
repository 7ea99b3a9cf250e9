/**
 * Keeps a stream's ffmpeg transcoder running while its source is connected: spawns it (the input preamble
 * first on stdin, so a new process can decode what follows), restarts it with backoff when it dies, reporting
 * each exit so the caller can cut a discontinuity, turns -progress output into metrics and logs, and stops it
 * by ending its input (SIGTERM, then SIGKILL, when it does not finish by itself).
 */
import type { LadderOutput } from '../adapters/ffmpeg/args.js';
import type { SourceDescription } from '../adapters/ffmpeg/input-dump.js';
import type { FfmpegProgress } from '../adapters/ffmpeg/progress.js';
import { type FfmpegExitError, Transcoder } from '../adapters/ffmpeg/transcoder.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

export interface SupervisorOptions {
  stream: string;
  ffmpegPath: string;
  /** Niceness of every transcoder process (config transcoderNice); 0 or absent: as spawned. */
  nice?: number;
  /** The ffmpeg arguments and its outputs, built afresh for every process. */
  args: () => { args: string[]; outputs: LadderOutput[] };
  metrics: Metrics;
  log: Logger;
  /** Restart ffmpeg when it dies while the source is connected. Default true. */
  restartOnExit?: boolean;
  /** Bytes every new transcoder gets first on stdin (RTMP: FLV header, metadata, decoder configurations). */
  inputPreamble?: () => Uint8Array[];
}

export interface SupervisorEvents {
  /** A new transcoder was spawned (its output time starts at 0 again). */
  onSpawn?(): void;
  onOutput(output: LadderOutput, data: Buffer): void;
  /** The transcoder has probed its input (each new process once): streams, languages, captions. */
  onSourceInfo?(info: SourceDescription): void;
  /** The transcoder exited while supervised (not after stop): whatever was open is cut here. */
  onExit(err: FfmpegExitError | undefined): void;
  /** The transcoder exited and is not restarted (SRT caller left, source ended). */
  onEnded?(reason: string): void;
}

const RESTART_DELAY_MS = 300;
const MAX_RESTART_DELAY_MS = 10_000;
/** A process that lived this long resets the backoff. */
const STABLE_MS = 10_000;
/** After the input ends: SIGTERM after this long, then SIGKILL after STOP_KILL_GRACE_MS. */
const STOP_FLUSH_MS = 3000;
const STOP_KILL_GRACE_MS = 1000;

export class TranscoderSupervisor {
  private transcoder: Transcoder | undefined;
  private active = false;
  private stopped = false;
  private restarts = 0;
  private lastStart = 0;
  /** The priority warning is logged once per stream, not at every restart. */
  private priorityWarned = false;
  private progressReports = 0;
  /** Resolve when the current transcoder exits. */
  private exitWaiters: Array<() => void> = [];
  /** Sources waiting for the current transcoder's stdin to drain; released when it exits too. */
  private readonly drainWaiters = new Set<() => void>();

  constructor(
    private readonly o: SupervisorOptions,
    private readonly events: SupervisorEvents,
  ) {}

  get pid(): number | undefined {
    return this.transcoder?.pid;
  }

  /** Spawns the first transcoder; from here on it is restarted when it dies. Nothing after stop(). */
  start(): void {
    if (this.stopped) return;
    this.active = true;
    this.spawn();
  }

  /** Source bytes for stdin inputs. Returns false when ffmpeg is saturated. */
  write(data: Uint8Array): boolean {
    return this.transcoder?.write(data) ?? true;
  }

  /**
   * Calls back when ffmpeg's stdin drains, or when that process exits (a killed ffmpeg's stdin never drains:
   * a source paused on it would never feed the restarted one), at once without a running transcoder.
   */
  onceDrain(cb: () => void): void {
    const t = this.transcoder;
    const s = t?.stdin;
    if (!t?.running || !s || s.destroyed) {
      cb();
      return;
    }
    let called = false;
    const once = (): void => {
      if (called) return;
      called = true;
      s.off('drain', once);
      this.drainWaiters.delete(once);
      cb();
    };
    this.drainWaiters.add(once);
    s.once('drain', once);
  }

  /** Kills the current transcoder (corrupt output, tests, operators): it is restarted like any other death. */
  kill(): void {
    this.transcoder?.child.kill('SIGKILL');
  }

  /** The source is gone: no more restarts; ends ffmpeg's input and waits until it has flushed and exited. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.active = false;
    const t = this.transcoder;
    if (!t?.running) return;
    const exited = new Promise<void>((r) => this.exitWaiters.push(r));
    t.endInput();
    const timer = setTimeout(() => void t.stop(STOP_KILL_GRACE_MS), STOP_FLUSH_MS);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const { args, outputs } = this.o.args();
    this.lastStart = Date.now();
    this.events.onSpawn?.();
    const t = new Transcoder(
      this.o.ffmpegPath,
      args,
      outputs,
      {
        onOutput: (o, d) => this.events.onOutput(o, d),
        onProgress: (p) => this.onProgress(p),
        onStderrLine: (line) => this.o.log.warn({ ffmpeg: line }, 'ffmpeg says'),
        onSourceInfo: (info) => this.events.onSourceInfo?.(info),
        onExit: (err) => this.onExit(t, err),
      },
      { nice: this.o.nice },
    );
    this.transcoder = t;
    this.o.log.info(
      { pid: t.pid, renditions: outputs.map((o) => o.rendition), nice: this.o.nice || undefined },
      'transcoder started',
    );
    if (t.priorityError && !this.priorityWarned) {
      this.priorityWarned = true;
      this.o.log.warn(
        { nice: this.o.nice, err: t.priorityError.message },
        'transcoder priority not set (needs root or CAP_SYS_NICE): it runs at the default priority',
      );
    }
    for (const b of this.o.inputPreamble?.() ?? []) t.write(b);
  }

  private onProgress(p: FfmpegProgress): void {
    const { metrics, stream, log } = this.o;
    metrics.ffmpegSpeed.set({ stream }, p.speed);
    metrics.ffmpegDropped.set({ stream }, p.dropFrames);
    const progress = {
      speed: p.speed,
      fps: p.fps,
      dropFrames: p.dropFrames,
      dupFrames: p.dupFrames,
      outTimeSec: Math.round(p.outTimeUs / 1e6),
    };
    if (p.speed > 0 && p.speed < 0.95 && p.outTimeUs > 5e6)
      log.warn(progress, 'transcoder slower than real time');
    else if (++this.progressReports % 10 === 0) log.info(progress, 'transcoder progress');
  }

  private onExit(t: Transcoder, err: FfmpegExitError | undefined): void {
    if (t !== this.transcoder) return;
    for (const w of this.exitWaiters.splice(0)) w();
    for (const w of [...this.drainWaiters]) w();
    if (this.stopped) return;
    const { log, metrics, stream } = this.o;
    const restart = this.active && (this.o.restartOnExit ?? true);
    if (err)
      log.error(
        { code: err.exitCode, signal: err.signal, stderr: err.stderrTail.slice(-2000) },
        'transcoder exited',
      );
    else log.info('transcoder finished');
    this.events.onExit(err);
    if (!restart) {
      this.events.onEnded?.(err ? 'transcoder exited' : 'source ended');
      return;
    }
    this.restarts = Date.now() - this.lastStart < STABLE_MS ? this.restarts + 1 : 0;
    const delay = Math.min(RESTART_DELAY_MS * 2 ** this.restarts, MAX_RESTART_DELAY_MS);
    metrics.ffmpegRestarts.inc({ stream });
    log.warn({ delayMs: delay }, 'restarting the transcoder with a discontinuity');
    setTimeout(() => {
      if (this.active && !this.stopped) this.spawn();
    }, delay);
  }
}
