/**
 * Keeps a stream's ffmpeg transcoder running while its source is connected: spawns it (the input preamble
 * first on stdin, so a new process can decode what follows), restarts it with backoff when it dies, reporting
 * each exit so the caller can cut a discontinuity, turns -progress output into metrics and logs, and stops it
 * by ending its input (SIGTERM, then SIGKILL, when it does not finish by itself).
 *
 * Planned recycle (decision 021): ffmpeg's fMP4 muxer keeps a 40-byte index entry per fragment for the life of the
 * process, so a transcoder older than `recycleAfterMs` is replaced at the next point the source says a new process
 * can start from (`cutPoint()`: an input video keyframe). Everything written before it went to the old process,
 * whose input is then ended so it flushes and exits by itself; what is written from the cut on is held and goes to
 * the new process (the preamble first) the moment the old one has exited: nothing is dropped, no backoff, not a
 * failure. A source that never names cut points is never recycled.
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
  /** Recycle a transcoder this old (ms) at the source's next cut point (config transcoderRecycleSec); 0: never. */
  recycleAfterMs?: number;
}

export interface SupervisorEvents {
  /**
   * A new transcoder was spawned (its output time starts at 0 again). `recycled`: it replaces one retired at a cut
   * point, and its input starts with what was written from that cut point on.
   */
  onSpawn?(recycled: boolean): void;
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
/** Input held for the next transcoder while the retired one flushes; beyond it write() reports saturation. */
const HANDOVER_HIGH_WATER_BYTES = 16 * 1024 * 1024;

/** A recycle under way: the retired process flushing, the input held for its successor. */
interface Handover {
  old: Transcoder;
  /** The old process's age at the cut point, and when the cut was (performance.now()). */
  ageMs: number;
  cutAt: number;
  /** What the new process gets first: the preamble as it stood at the cut point. */
  preamble: Uint8Array[];
  held: Uint8Array[];
  heldBytes: number;
  /** Sources paused on the held input; released once the successor has it. */
  drainWaiters: Array<() => void>;
  killTimer: NodeJS.Timeout;
  done: Promise<void>;
  resolve: () => void;
}

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
  private handover: Handover | undefined;

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
    const h = this.handover;
    if (h) {
      h.held.push(data);
      h.heldBytes += data.length;
      return h.heldBytes < HANDOVER_HIGH_WATER_BYTES;
    }
    return this.transcoder?.write(data) ?? true;
  }

  /** Whether the current transcoder is due for a recycle (older than recycleAfterMs, none under way). */
  get recycleDue(): boolean {
    const after = this.o.recycleAfterMs ?? 0;
    const t = this.transcoder;
    // Not a process being killed (kill() sent SIGKILL; `running` stays true until it has closed): its death is a
    // restart, with backoff and counted, not a recycle.
    return (
      after > 0 &&
      this.active &&
      !this.stopped &&
      !this.handover &&
      !!t?.running &&
      !t.child.killed &&
      t.uptimeMs >= after
    );
  }

  /**
   * The source's next bytes can start a new transcoder (after the preamble): an input video keyframe. When the
   * current one is due (recycleDue), it is retired here: its input ends, and what is written from now on is held
   * for its successor, spawned as soon as it has exited. Returns whether a recycle began.
   */
  cutPoint(): boolean {
    if (!this.recycleDue) return false;
    const old = this.transcoder!;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.handover = {
      old,
      ageMs: old.uptimeMs,
      cutAt: performance.now(),
      preamble: this.o.inputPreamble?.() ?? [],
      held: [],
      heldBytes: 0,
      drainWaiters: [],
      // Bounded: a process that does not finish by itself is stopped as stop() does (SIGTERM, then SIGKILL).
      killTimer: setTimeout(() => void old.stop(STOP_KILL_GRACE_MS), STOP_FLUSH_MS),
      done,
      resolve,
    };
    // Sources paused on the old process's stdin go on into the held input.
    for (const w of [...this.drainWaiters]) w();
    old.endInput();
    return true;
  }

  /**
   * Calls back when ffmpeg's stdin drains, or when that process exits (a killed ffmpeg's stdin never drains:
   * a source paused on it would never feed the restarted one), at once without a running transcoder.
   */
  onceDrain(cb: () => void): void {
    if (this.handover) {
      this.handover.drainWaiters.push(() => this.onceDrain(cb));
      return;
    }
    const t = this.transcoder;
    const s = t?.stdin;
    // Nothing to wait for (also after a recycle: the successor's stdin may never have been saturated).
    if (!t?.running || !s || s.destroyed || !s.writableNeedDrain) {
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

  /**
   * Kills the current transcoder (corrupt output, tests, operators, an input cut back to the live edge): it is
   * restarted like any other death. A recycle under way is abandoned: its held input is dropped with it (the
   * restarted process starts at the source's next keyframe, as after any restart).
   */
  kill(): void {
    const h = this.handover;
    if (h) {
      this.handover = undefined;
      clearTimeout(h.killTimer);
      this.o.log.warn(
        { pid: h.old.pid, heldBytes: h.heldBytes },
        'transcoder recycle abandoned: the retiring process was killed',
      );
      h.resolve();
      for (const w of h.drainWaiters) w();
    }
    this.transcoder?.child.kill('SIGKILL');
  }

  /** The source is gone: no more restarts; ends ffmpeg's input and waits until it has flushed and exited. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.active = false;
    // A recycle under way: its held input goes to the successor, which is then stopped like any transcoder.
    await this.handover?.done;
    const t = this.transcoder;
    if (!t?.running) return;
    const exited = new Promise<void>((r) => this.exitWaiters.push(r));
    t.endInput();
    const timer = setTimeout(() => void t.stop(STOP_KILL_GRACE_MS), STOP_FLUSH_MS);
    await exited;
    clearTimeout(timer);
  }

  private spawn(handover?: Handover): void {
    const { args, outputs } = this.o.args();
    this.lastStart = Date.now();
    this.events.onSpawn?.(handover !== undefined);
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
    for (const b of handover ? handover.preamble : (this.o.inputPreamble?.() ?? [])) t.write(b);
  }

  /** The retired transcoder has exited: cut the timeline as at any exit, start its successor with the held input. */
  private finishHandover(h: Handover, err: FfmpegExitError | undefined): void {
    this.handover = undefined;
    clearTimeout(h.killTimer);
    const { log, metrics, stream } = this.o;
    if (err)
      log.warn(
        { code: err.exitCode, signal: err.signal, stderr: err.stderrTail.slice(-2000) },
        'retired transcoder did not exit cleanly',
      );
    this.events.onExit(err);
    this.spawn(h);
    const t = this.transcoder!;
    for (const b of h.held) t.write(b);
    metrics.transcoderRecycles.inc({ stream });
    log.info(
      {
        oldPid: h.old.pid,
        ageSec: Math.round(h.ageMs / 100) / 10,
        newPid: t.pid,
        heldBytes: h.heldBytes,
        handoverMs: Math.round(performance.now() - h.cutAt),
      },
      'transcoder recycled at an input keyframe',
    );
    h.resolve();
    for (const w of h.drainWaiters) w();
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
    if (this.handover?.old === t) return this.finishHandover(this.handover, err);
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
