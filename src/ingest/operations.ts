/**
 * What the ingest tells operators (issue #12), kept beside the ingest rather than inside its sources: publisher
 * connected / refused / left, stream live / ended, transcoder restarted (each restart is also a discontinuity)
 * into the event log; every REPORT_MS a health record per live publisher (ingest bitrate and fps, transcoder
 * speed and drops, renditions, newest segment) that expires with the ingest; and, from the event log, an
 * operator's kick or disable of a stream this ingest holds: its publisher's authorization is revoked (the source
 * closes the connection). A disabled stream's publishers are refused before any key is checked.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type {
  EventBus,
  EventLog,
  HealthBoard,
  MediaStore,
  OpsEvent,
  StreamControls,
  StreamDirectory,
  Subscription,
} from '../store/ports.js';
import type { Authorization } from './source.js';
import type { StreamSession } from './stream-session.js';

const REPORT_MS = 2000;
/** A report outlives three missed refreshes at most. */
const REPORT_TTL_MS = 3 * REPORT_MS;
const FLV_VIDEO_TAG = 9;

export interface OperationsDeps {
  store: {
    eventLog?: EventLog;
    controls?: StreamControls;
    healthBoard?: HealthBoard;
  };
  metrics: Metrics;
  log: Logger;
  /** This ingest's instance id (health records name it). */
  instance: string;
}

interface Live {
  protocol: string;
  address: string | null;
  connectedAt: number;
  revoke: AbortController;
  bytes: number;
  videoFrames: number;
  counting: boolean;
  sampledAt: number;
  bitrate: number | null;
  fps: number | null;
  lastSegmentAt: number | null;
  renditions: string[];
  /** Transcoder restarts of this publisher, and the process' counter for the stream when it connected. */
  restarts: number;
  restartBase: number;
  /** Planned transcoder recycles (decision 021), counted the same way. */
  recycles: number;
  recycleBase: number;
}

export class IngestOperations {
  private readonly live = new Map<string, Live>();
  private timer: NodeJS.Timeout | undefined;
  private follower: Subscription | undefined;
  private readonly log: Logger;

  constructor(private readonly d: OperationsDeps) {
    this.log = d.log.child({ component: 'operations' });
  }

  start(): void {
    this.timer = setInterval(() => void this.report(), REPORT_MS);
    this.timer.unref();
    this.follower = this.d.store.eventLog?.follow((ev) => {
      if ((ev.type === 'publisher.kicked' || ev.type === 'stream.disabled') && ev.stream) {
        const l = this.live.get(ev.stream);
        if (!l) return;
        this.log.warn({ stream: ev.stream, event: ev.type, by: ev.data?.by }, 'operator drops the publisher');
        l.revoke.abort(ev.type);
      }
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.follower?.close();
  }

  emit(ev: Omit<OpsEvent, 'at'>): void {
    this.d.store.eventLog
      ?.append({ ...ev, at: Date.now() })
      .catch((err: unknown) =>
        this.log.debug({ err, event: ev.type }, 'could not append an operations event'),
      );
  }

  /**
   * Wraps a source's authorization: a disabled stream is refused first; refusals (but the busy answers a standby
   * backup polls for) and acceptances are announced, the release is too, and the authorization carries the
   * signal an operator's kick aborts.
   */
  async authorize(
    protocol: string,
    stream: string,
    inner: () => Promise<Authorization>,
    /** The publisher's address, when the source tells it. */
    address?: string,
  ): Promise<Authorization> {
    if (this.d.store.controls && stream !== '') {
      const disabled = await this.d.store.controls.isDisabled(stream).catch(() => false);
      if (disabled) {
        this.emit({ type: 'publisher.refused', stream, data: { protocol, reason: 'disabled' } });
        return { ok: false, reason: 'unauthorized', message: 'stream is disabled' };
      }
    }
    const a = await inner();
    if (!a.ok) {
      if (a.reason !== 'busy')
        this.emit({
          type: 'publisher.refused',
          stream: stream || undefined,
          data: { protocol, reason: a.reason },
        });
      return a;
    }
    const l: Live = {
      protocol,
      address: address ?? null,
      connectedAt: Date.now(),
      revoke: new AbortController(),
      bytes: 0,
      videoFrames: 0,
      counting: false,
      sampledAt: performance.now(),
      bitrate: null,
      fps: null,
      lastSegmentAt: null,
      renditions: [],
      restarts: 0,
      restartBase: await this.counter(a.stream),
      recycles: 0,
      recycleBase: await this.counter(a.stream, this.d.metrics.transcoderRecycles),
    };
    this.live.set(a.stream, l);
    this.emit({ type: 'publisher.connected', stream: a.stream, data: { protocol, address: l.address } });
    return {
      ...a,
      revoked: l.revoke.signal,
      release: async () => {
        if (this.live.get(a.stream) === l) {
          this.live.delete(a.stream);
          this.emit({
            type: 'publisher.left',
            stream: a.stream,
            data: { protocol, reason: l.revoke.signal.aborted ? String(l.revoke.signal.reason) : 'gone' },
          });
          await this.d.store.healthBoard?.report(this.record(a.stream, l), 1).catch(() => undefined);
        }
        await a.release();
      },
    };
  }

  /** Counts what a session's source writes (stdin inputs: FLV tags from RTMP) for the health record. */
  tapSession(stream: string, session: StreamSession): void {
    const l = this.live.get(stream);
    if (!l) return;
    const write = session.write.bind(session);
    session.write = (data: Uint8Array): boolean => {
      l.counting = true;
      l.bytes += data.length;
      if (data[0] === FLV_VIDEO_TAG) l.videoFrames++;
      return write(data);
    };
  }

  /** The store a session writes through: stream live/ended and each segment are noted on the way. */
  sessionStore<S extends { media: MediaStore; streams: StreamDirectory; events: EventBus }>(
    stream: string,
    store: S,
  ): S {
    const dir = store.streams;
    const bus = store.events;
    let state: string | undefined;
    const streams: StreamDirectory = {
      mark: async (name, settings, s, nowMs) => {
        await dir.mark(name, settings, s, nowMs);
        const l = this.live.get(stream);
        if (l && settings.renditions) l.renditions = settings.renditions;
        if (s !== state)
          this.emit({ type: s === 'live' ? 'stream.live' : 'stream.ended', stream, data: { state: s } });
        state = s;
      },
      readState: (name) => dir.readState(name),
      version: (name) => dir.version(name),
      list: (limit) => dir.list(limit),
    };
    const events: EventBus = {
      publish: async (ev) => {
        if (ev.t === 'seg') {
          const l = this.live.get(stream);
          if (l) l.lastSegmentAt = Date.now();
        }
        return bus.publish(ev);
      },
      subscribe: (name, fn) => bus.subscribe(name, fn),
      get listeners() {
        return bus.listeners;
      },
      close: () => bus.close(),
    };
    return { ...store, streams, events };
  }

  private async counter(stream: string, metric = this.d.metrics.ffmpegRestarts): Promise<number> {
    const v = (await metric.get()).values.find((x) => (x.labels as { stream?: string }).stream === stream);
    return v?.value ?? 0;
  }

  private record(stream: string, l: Live) {
    return {
      stream,
      protocol: l.protocol,
      publisherAddress: l.address,
      ingest: this.d.instance,
      ingestBitrateBps: l.bitrate,
      ingestFps: l.fps,
      transcoderSpeed: null as number | null,
      droppedFrames: null as number | null,
      transcoderRestarts: l.restarts,
      renditions: l.renditions,
      lastSegmentAt: l.lastSegmentAt,
      connectedAt: l.connectedAt,
      reportedAt: Date.now(),
    };
  }

  private async report(): Promise<void> {
    if (this.live.size === 0) return;
    const { metrics } = this.d;
    const byStream = async (g: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> }) => {
      const m = new Map<string, number>();
      for (const v of (await g.get()).values) {
        const s = (v.labels as { stream?: string }).stream;
        if (s) m.set(s, v.value);
      }
      return m;
    };
    const [speed, dropped, restarts, recycles] = await Promise.all([
      byStream(metrics.ffmpegSpeed),
      byStream(metrics.ffmpegDropped),
      byStream(metrics.ffmpegRestarts),
      byStream(metrics.transcoderRecycles),
    ]);
    const now = performance.now();
    for (const [stream, l] of this.live) {
      const sec = (now - l.sampledAt) / 1000;
      if (l.counting && sec > 0) {
        l.bitrate = Math.round((l.bytes * 8) / sec);
        l.fps = Math.round((l.videoFrames / sec) * 10) / 10;
      }
      l.bytes = 0;
      l.videoFrames = 0;
      l.sampledAt = now;
      const r = (restarts.get(stream) ?? 0) - l.restartBase;
      if (r > l.restarts) {
        this.emit({ type: 'transcoder.restarted', stream, data: { restarts: r } });
        this.emit({ type: 'discontinuity', stream, data: { cause: 'transcoder restarted' } });
        l.restarts = r;
      }
      const c = (recycles.get(stream) ?? 0) - l.recycleBase;
      if (c > l.recycles) {
        this.emit({ type: 'discontinuity', stream, data: { cause: 'transcoder recycled', recycles: c } });
        l.recycles = c;
      }
      const rec = this.record(stream, l);
      rec.transcoderSpeed = speed.get(stream) ?? null;
      rec.droppedFrames = dropped.get(stream) ?? null;
      await this.d.store.healthBoard?.report(rec, REPORT_TTL_MS).catch(() => undefined);
    }
  }
}
