/**
 * The ingest: RTMP on one port for every RTMP stream, an SRT listener per SRT stream, a watch folder per
 * watch stream. Decides who may publish what, and runs one StreamSession per live stream.
 */
import { randomUUID } from 'node:crypto';
import { type Config, type StreamConfig, streamSettings } from '../config.js';
import { isSafeName } from '../core/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RenderQueue } from '../queue/ports.js';
import type { EventBus, MediaStore, PublisherLocks, StreamDirectory } from '../store/ports.js';
import type { PublishOp } from './publisher.js';
import { PublisherRegistry } from './registry.js';
import { type PublishDecision, RtmpServer } from './rtmp-server.js';
import { StreamSession } from './stream-session.js';
import { WatchFolderIngest } from './watch-folder.js';

export interface IngestDeps {
  store: { media: MediaStore; streams: StreamDirectory; events: EventBus; locks: PublisherLocks };
  queue: RenderQueue;
  metrics: Metrics;
  log: Logger;
  onPublished?: (stream: string, op: PublishOp, latencyMs: number) => void;
}

export class IngestService {
  readonly sessions = new Map<string, StreamSession>();
  readonly registry: PublisherRegistry;
  private rtmp: RtmpServer | undefined;
  private stopped = false;
  private loops: Array<Promise<void>> = [];
  private watchers: WatchFolderIngest[] = [];
  rtmpPort: number | undefined;

  constructor(
    readonly config: Config,
    private readonly deps: IngestDeps,
  ) {
    this.registry = new PublisherRegistry(
      deps.store.locks,
      randomUUID(),
      deps.log.child({ component: 'registry' }),
    );
  }

  /** With no streams configured, any safely named stream may publish over RTMP (the demo). */
  get open(): boolean {
    return this.config.streams.length === 0;
  }

  async start(): Promise<void> {
    const log = this.deps.log;
    const rtmpStreams = this.config.streams.filter((s) => s.ingest.type === 'rtmp');
    if (this.open || rtmpStreams.length > 0) {
      this.rtmp = new RtmpServer({
        host: this.config.rtmp.host,
        port: this.config.rtmp.port,
        maxChunkSize: this.config.rtmp.maxChunkSize,
        authorize: (app, key) => this.authorize(app, key),
        log,
        metrics: this.deps.metrics,
      });
      this.rtmpPort = await this.rtmp.listen();
      if (this.open)
        log.warn(
          { app: this.config.rtmp.app },
          'no streams configured: the server is OPEN, any stream name matching [A-Za-z0-9_-] may publish',
        );
    }
    for (const s of this.config.streams) {
      if (s.ingest.type === 'srt') this.loops.push(this.srtLoop(s));
      if (s.ingest.type === 'watch') {
        const w = new WatchFolderIngest(
          s.name,
          s.ingest.dir,
          (opts) => this.newSession(s.name, s, opts),
          log.child({ component: 'watch', stream: s.name }),
        );
        await w.start();
        this.watchers.push(w);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.rtmp?.close();
    await Promise.all(this.watchers.map((w) => w.stop()));
    await Promise.all([...this.sessions.values()].map((s) => s.stop('ingest shutting down')));
    await Promise.race([Promise.all(this.loops), new Promise((r) => setTimeout(r, 5000))]);
    await this.registry.releaseAll();
  }

  newSession(
    name: string,
    cfg: StreamConfig | undefined,
    opts: ConstructorParameters<typeof StreamSession>[3],
  ): StreamSession {
    const session = new StreamSession(
      name,
      streamSettings(this.config, name, cfg),
      {
        store: this.deps.store,
        queue: this.deps.queue,
        metrics: this.deps.metrics,
        log: this.deps.log.child({ component: 'session' }),
        ffmpegPath: this.config.ffmpegPath,
        decoderThreads: this.config.decoderThreads,
        publishBufferBytes: this.config.publishBufferBytes,
        onPublished: (op, ms) => this.deps.onPublished?.(name, op, ms),
      },
      opts,
    );
    return session;
  }

  async authorize(app: string, key: string): Promise<PublishDecision> {
    if (app !== this.config.rtmp.app)
      return { ok: false, code: 'NetStream.Publish.Denied', reason: `unknown application "${app}"` };
    let name: string;
    let cfg: StreamConfig | undefined;
    if (this.open) {
      if (!isSafeName(key))
        return {
          ok: false,
          code: 'NetStream.Publish.BadName',
          reason: 'stream name must be 1-64 characters of A-Z a-z 0-9 _ -',
        };
      name = key;
    } else {
      cfg = this.config.streams.find((s) => s.ingest.type === 'rtmp' && s.key === key);
      if (!cfg) return { ok: false, code: 'NetStream.Publish.Unauthorized', reason: 'unknown stream key' };
      name = cfg.name;
    }
    if (!(await this.registry.claim(name))) {
      return {
        ok: false,
        code: 'NetStream.Publish.BadName',
        reason: `stream "${name}" already has a publisher`,
      };
    }
    return {
      ok: true,
      stream: name,
      open: async (audio, preamble) => {
        const session = this.newSession(name, cfg, {
          input: { kind: 'flv-stdin' },
          audio,
          inputPreamble: preamble,
        });
        this.sessions.set(name, session);
        await session.start();
        return session;
      },
      release: async () => {
        this.sessions.delete(name);
        await this.registry.release(name);
      },
    };
  }

  /** One SRT listener per stream, through ffmpeg's libsrt; a new listener after each caller leaves. */
  private async srtLoop(cfg: StreamConfig): Promise<void> {
    if (cfg.ingest.type !== 'srt') return;
    const srt = cfg.ingest;
    const log = this.deps.log.child({ component: 'srt', stream: cfg.name, port: srt.port });
    log.info({ encrypted: Boolean(srt.passphrase), latencyMs: srt.latencyMs }, 'SRT listening');
    while (!this.stopped) {
      const session = this.newSession(cfg.name, cfg, {
        input: {
          kind: 'srt-listener',
          host: this.config.rtmp.host,
          port: srt.port,
          latencyMs: srt.latencyMs,
          passphrase: srt.passphrase,
          pbkeylen: srt.pbkeylen,
        },
        audio: true,
        restartOnExit: false,
      });
      const ended = new Promise<string>((resolve) => (session.onEnded = resolve));
      try {
        this.sessions.set(cfg.name, session);
        await session.start();
        const reason = await Promise.race([ended, this.whenStopped()]);
        await session.stop(reason);
      } catch (err) {
        log.error({ err }, 'SRT session failed');
        await session.stop('error').catch(() => undefined);
      } finally {
        if (this.sessions.get(cfg.name) === session) this.sessions.delete(cfg.name);
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 300));
    }
  }

  private whenStopped(): Promise<string> {
    return new Promise((resolve) => {
      const t = setInterval(() => {
        if (this.stopped) {
          clearInterval(t);
          resolve('ingest shutting down');
        }
      }, 200);
    });
  }
}
