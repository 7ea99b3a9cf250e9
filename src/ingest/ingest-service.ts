/**
 * The ingest: one source per configured kind (RTMP, SRT, watch folder: see `sources/`), created through the
 * source-kind registry. Decides who may publish what, and runs one StreamSession per live stream.
 */
import { type Config, type StreamConfig, streamSettings } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RenderQueue } from '../queue/ports.js';
import type { EventBus, MediaStore, PublisherLocks, Store, StreamDirectory } from '../store/ports.js';
import type { PublishOp } from './publisher.js';
import { PublisherRegistry, publisherInstanceId } from './registry.js';
import { IngestOperations } from './operations.js';
import type {
  Authorization,
  IngestSource,
  SourceContext,
  SourceEndpoint,
  SourceKind,
  SourceHttpMount,
  SourceKindName,
  PublishOrigin,
} from './source.js';
import { sourceKinds } from './sources/index.js';
import { type PublishAuthorizer, createPublishAuthorizer } from '../auth/publish/index.js';
import { WatchSource } from './sources/watch/index.js';
import { type SessionOptions, StreamSession } from './stream-session.js';

export interface IngestDeps {
  store: { media: MediaStore; streams: StreamDirectory; events: EventBus; locks: PublisherLocks } & Partial<
    Pick<Store, 'eventLog' | 'controls' | 'healthBoard'>
  >;
  queue: RenderQueue;
  metrics: Metrics;
  log: Logger;
  onPublished?: (stream: string, op: PublishOp, latencyMs: number) => void;
  /** Who may publish (src/auth/publish); default: built from config.streams and config.auth.publish. */
  publishAuth?: PublishAuthorizer;
}

export class IngestService {
  /** The live session of each stream. */
  readonly sessions = new Map<string, StreamSession>();
  readonly registry: PublisherRegistry;
  /** The started sources, in registry order. */
  readonly sources: IngestSource[] = [];
  /** Operations events, health reports, kicks (issue #12). */
  readonly operations: IngestOperations;
  /** Keys, JWT, hook, open mode, and the slow-down of refused addresses (issue #12). */
  readonly publishAuth: PublishAuthorizer;

  constructor(
    readonly config: Config,
    private readonly deps: IngestDeps,
    private readonly kinds: { readonly [K in SourceKindName]: SourceKind<K> } = sourceKinds,
  ) {
    this.publishAuth = deps.publishAuth ?? createPublishAuthorizer(config, { log: deps.log });
    this.registry = new PublisherRegistry(
      deps.store.locks,
      publisherInstanceId(config),
      deps.log.child({ component: 'registry' }),
    );
    this.operations = new IngestOperations({
      store: deps.store,
      metrics: deps.metrics,
      log: deps.log,
      instance: this.registry.instanceId,
    });
  }

  /** With no streams configured, any safely named stream may publish over RTMP (the demo). */
  get open(): boolean {
    return this.publishAuth.open;
  }

  /** What the sources listen on. */
  endpoints(): SourceEndpoint[] {
    return this.sources.flatMap((s) => s.endpoints());
  }

  /** Handlers for the ingest HTTP listener (CMAF ingest under config cmafIngest.root), after start. */
  httpMounts(): SourceHttpMount[] {
    return this.sources.flatMap((s) => s.httpMounts?.() ?? []);
  }

  /** The RTMP port (after start), when RTMP is listening. */
  get rtmpPort(): number | undefined {
    for (const e of this.endpoints()) if (e.kind === 'rtmp') return e.port;
    return undefined;
  }

  /** The watch folders (tests read what each has ingested). */
  get watchers() {
    return this.sources.flatMap((s) => (s instanceof WatchSource ? s.folders : []));
  }

  async start(): Promise<void> {
    this.operations.start();
    for (const kind of Object.values(this.kinds) as SourceKind[]) {
      const streams = this.config.streams.filter((s) => s.ingest.type === kind.name);
      const source = kind.create(streams, this.context(kind.name));
      if (!source) continue;
      this.sources.push(source);
      await source.start();
    }
  }

  async stop(): Promise<void> {
    this.operations.stop();
    for (const s of this.sources) await s.stop();
    await Promise.all([...this.sessions.values()].map((s) => s.stop('ingest shutting down')));
    await this.registry.releaseAll();
  }

  newSession(name: string, cfg: StreamConfig | undefined, opts: SessionOptions): StreamSession {
    return new StreamSession(
      name,
      streamSettings(this.config, name, cfg),
      {
        store: this.operations.sessionStore(name, this.deps.store),
        queue: this.deps.queue,
        metrics: this.deps.metrics,
        log: this.deps.log.child({ component: 'session' }),
        ffmpegPath: this.config.ffmpegPath,
        decoderThreads: this.config.decoderThreads,
        transcoderNice: this.config.transcoderNice,
        transcoderRecycleSec: this.config.transcoderRecycleSec,
        publishBufferBytes: this.config.publishBufferBytes,
        onPublished: (op, ms) => this.deps.onPublished?.(name, op, ms),
      },
      opts,
    );
  }

  /**
   * May `key` publish `stream` through a source of `kind`? On an open server any safe name may; otherwise the
   * stream must be configured for that kind with that key. Then the stream is claimed (one publisher).
   */
  async authorize(
    kind: SourceKindName,
    stream: string,
    key: string,
    from: PublishOrigin = {},
  ): Promise<Authorization> {
    const v = await this.publishAuth.authorize({ protocol: kind, stream, key, ...from });
    if (!v.ok) return v;
    const cfg = v.config;
    if (!(await this.registry.claim(stream)))
      return { ok: false, reason: 'busy', message: `stream "${stream}" already has a publisher` };
    return {
      ok: true,
      stream,
      config: cfg,
      release: async () => {
        this.sessions.delete(stream);
        await this.registry.release(stream);
      },
    };
  }

  private context(kind: SourceKindName): SourceContext {
    return {
      config: this.config,
      open: this.open,
      log: this.deps.log,
      metrics: this.deps.metrics,
      authorize: (stream, key, from) =>
        this.operations.authorize(
          kind,
          stream,
          () => this.authorize(kind, stream, key, from),
          from?.remoteAddr,
        ),
      newSession: (stream, cfg, options) => {
        const session = this.newSession(stream, cfg, options);
        this.sessions.set(stream, session);
        this.operations.tapSession(stream, session);
        session.onStopped = () => {
          if (this.sessions.get(stream) === session) this.sessions.delete(stream);
        };
        return session;
      },
    };
  }
}
