/**
 * The reader's check of disabled streams: playlists, MPDs and media of a stream an operator disabled answer 403
 * (STREAM_DISABLED) or 404 as configured (api.disabledStatus). The set is read from the store at most once a
 * second per reader (one SMEMBERS, shared by every request), so a disable reaches viewers within about a second
 * plus the CDN's cache lifetime; a store that cannot be asked keeps the last answer.
 */
import { ReaderError } from '../reader/errors.js';
import type { StreamControls } from '../store/ports.js';

const REFRESH_MS = 1000;

export class DisabledStreams {
  private set = new Set<string>();
  private readAt = -Infinity;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly controls: StreamControls,
    private readonly status: 403 | 404,
  ) {}

  /** Throws the configured answer when `stream` is disabled. */
  async check(stream: string): Promise<void> {
    if (performance.now() - this.readAt > REFRESH_MS) await this.refresh();
    if (this.set.has(stream)) throw new ReaderError(this.status === 403 ? 'STREAM_DISABLED' : 'NOT_FOUND');
  }

  /**
   * check() without waiting, for the reader's synchronous fast lane: true when the set read last is fresh and
   * does not name `stream`; undefined when check() would ask the store or refuse (the caller then uses check()).
   */
  passesNow(stream: string): true | undefined {
    if (performance.now() - this.readAt > REFRESH_MS || this.set.has(stream)) return undefined;
    return true;
  }

  private refresh(): Promise<void> {
    this.pending ??= this.controls
      .disabled()
      .then(
        (list) => void (this.set = new Set(list)),
        () => undefined,
      )
      .finally(() => {
        this.readAt = performance.now();
        this.pending = undefined;
      });
    return this.pending;
  }
}
