/**
 * RTMP source: one server on one port for every RTMP stream, routed by app and stream key (the protocol itself
 * is in src/rtmp/). With no streams configured the server is open: the key is the stream name.
 */
import type { StreamConfig } from '../../../config.js';
import type {
  Authorization,
  IngestSource,
  RefusalReason,
  SourceContext,
  SourceEndpoint,
  SourceKind,
} from '../../source.js';
import { type AcceptedPublish, type PublishDecision, RtmpServer } from './server.js';

/** A standby backup asks for its stream at least this often (a primary on another ingest: its lease expiring). */
const STANDBY_POLL_MS = 1000;

/** The NetStream status code a refusal is sent with. */
const REFUSAL_CODES: Record<RefusalReason, string> = {
  'bad-name': 'NetStream.Publish.BadName',
  unauthorized: 'NetStream.Publish.Unauthorized',
  busy: 'NetStream.Publish.BadName',
};

export class RtmpSource implements IngestSource {
  readonly kind = 'rtmp';
  private server: RtmpServer | undefined;
  private port: number | undefined;
  /** Standby backups of each stream, woken when its publisher leaves. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly streams: StreamConfig[],
    private readonly ctx: SourceContext,
  ) {}

  async start(): Promise<void> {
    const { config, log, metrics } = this.ctx;
    this.server = new RtmpServer({
      host: config.rtmp.host,
      port: config.rtmp.port,
      maxChunkSize: config.rtmp.maxChunkSize,
      publishDeadlineMs: config.rtmp.publishDeadlineMs,
      idleTimeoutMs: config.rtmp.idleTimeoutMs,
      maxConnections: config.rtmp.maxConnections,
      maxInputLagMs: config.maxInputLagSec * 1000,
      authorize: (app, key, role, from) => this.authorize(app, key, role, from),
      log,
      metrics,
    });
    this.port = await this.server.listen();
    if (this.ctx.open)
      log.warn(
        { app: config.rtmp.app },
        'no streams configured: the server is OPEN, any stream name matching [A-Za-z0-9_-] may publish',
      );
  }

  /** Closes the port and every connection; each connection's session stops as its publisher leaves. */
  async stop(): Promise<void> {
    await this.server?.close();
  }

  endpoints(): SourceEndpoint[] {
    return this.port === undefined
      ? []
      : [{ kind: 'rtmp', host: this.ctx.config.rtmp.host, port: this.port }];
  }

  async authorize(
    app: string,
    key: string,
    role: 'primary' | 'backup' = 'primary',
    from: { remoteAddr?: string | undefined; rawName?: string } = {},
  ): Promise<PublishDecision> {
    const ctx = this.ctx;
    if (app !== ctx.config.rtmp.app)
      return { ok: false, code: 'NetStream.Publish.Denied', reason: `unknown application "${app}"` };
    // The key names the stream: itself on an open server, a configured stream's otherwise. A publish token or a
    // key for the hook comes in the query instead: rtmp://host/live/STREAM?token=JWT or ?key=KEY (issue #12).
    const q = from.rawName?.indexOf('?') ?? -1;
    const query = q >= 0 ? Object.fromEntries(new URLSearchParams(from.rawName!.slice(q + 1))) : {};
    const given = query.token ?? query.key;
    const stream =
      given !== undefined ? key : ctx.open ? key : (this.streams.find((s) => s.key === key)?.name ?? '');
    key = given ?? key;
    const a = await ctx.authorize(stream, key, { remoteAddr: from.remoteAddr, query });
    if (!a.ok) {
      // Busy means the key is right and the stream has a publisher: a declared backup waits for its turn.
      if (a.reason === 'busy' && role === 'backup') return this.standby(stream, key);
      return { ok: false, code: REFUSAL_CODES[a.reason], reason: a.message };
    }
    return this.accepted(a);
  }

  /**
   * A backup publisher's wait: woken the moment a publisher of the stream on this ingest releases it (and every
   * second, for a primary on another ingest whose lease must expire), it claims the stream like any publisher.
   */
  private standby(stream: string, key: string): PublishDecision {
    let cancelled = false;
    let wake: (() => void) | undefined;
    const waiters = this.waiters.get(stream) ?? new Set<() => void>();
    this.waiters.set(stream, waiters);
    const turn = (async (): Promise<AcceptedPublish | undefined> => {
      try {
        while (!cancelled) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => resolve(), STANDBY_POLL_MS);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
            waiters.add(wake);
          });
          waiters.delete(wake!);
          if (cancelled) return undefined;
          const a = await this.ctx.authorize(stream, key);
          if (a.ok) {
            if (!cancelled) return this.accepted(a);
            await a.release();
            return undefined;
          }
          if (a.reason !== 'busy') return undefined;
        }
        return undefined;
      } finally {
        if (waiters.size === 0 && this.waiters.get(stream) === waiters) this.waiters.delete(stream);
      }
    })();
    return {
      ok: true,
      stream,
      open: () => Promise.reject(new Error('a standby publisher opens its session after its turn')),
      release: async () => undefined,
      standby: {
        turn,
        cancel: () => {
          cancelled = true;
          wake?.();
        },
      },
    };
  }

  private accepted(a: Extract<Authorization, { ok: true }>): AcceptedPublish {
    const ctx = this.ctx;
    return {
      ok: true,
      stream: a.stream,
      revoked: a.revoked,
      open: async (audio, preamble) => {
        const session = ctx.newSession(a.stream, a.config, {
          input: { kind: 'flv-stdin' },
          audio,
          inputPreamble: preamble,
        });
        await session.start();
        return session;
      },
      release: async () => {
        await a.release();
        // A backup waiting on this ingest takes the stream at once.
        for (const w of [...(this.waiters.get(a.stream) ?? [])]) w();
      },
    };
  }
}

export const rtmpSource: SourceKind<'rtmp'> = {
  name: 'rtmp',
  create: (streams, ctx) => (ctx.open || streams.length > 0 ? new RtmpSource(streams, ctx) : undefined),
};
