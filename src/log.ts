import pino, { type Logger } from 'pino';

export type { Logger };

/** The one root logger; components take child({ component, stream, rendition }). JSON lines on stdout. */
export function createLogger(level = 'info', name = 'wellspring', fd: 1 | 2 = 1): Logger {
  // fd 2 for tools whose stdout is their report (the benchmarks print JSON there).
  const options = { name, level, base: { pid: process.pid } };
  return fd === 1 ? pino(options) : pino(options, pino.destination(fd));
}

/**
 * One line when a dependency goes away and one when it comes back, with what failed in between: an outage is
 * two log lines, not a stack per retry. `failed` may be called on every failure; `ok` on every success.
 */
export class OutageLog {
  private downSince: number | undefined;
  private failures = 0;
  private lastError = '';

  constructor(
    private readonly log: Logger,
    /** What went away, e.g. "Redis (manifest queue)". */
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  failed(err: unknown, context: Record<string, unknown> = {}): void {
    this.failures++;
    this.lastError = err instanceof Error ? err.message : String(err);
    if (this.downSince !== undefined) return;
    this.downSince = this.now();
    this.log.error({ ...context, err: this.lastError }, `${this.what} unreachable; retrying quietly`);
  }

  ok(context: Record<string, unknown> = {}): void {
    if (this.downSince === undefined) return;
    this.log.warn(
      { ...context, downMs: this.now() - this.downSince, failures: this.failures, lastError: this.lastError },
      `${this.what} reachable again`,
    );
    this.downSince = undefined;
    this.failures = 0;
  }
}
