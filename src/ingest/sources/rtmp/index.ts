/**
 * RTMP source: one server on one port for every RTMP stream, routed by app and stream key (the protocol itself
 * is in src/rtmp/). With no streams configured the server is open: the key is the stream name.
 */
import type { StreamConfig } from '../../../config.js';
import type { IngestSource, RefusalReason, SourceContext, SourceEndpoint, SourceKind } from '../../source.js';
import { type PublishDecision, RtmpServer } from './server.js';

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
      authorize: (app, key) => this.authorize(app, key),
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

  async authorize(app: string, key: string): Promise<PublishDecision> {
    const ctx = this.ctx;
    if (app !== ctx.config.rtmp.app)
      return { ok: false, code: 'NetStream.Publish.Denied', reason: `unknown application "${app}"` };
    // The key names the stream: itself on an open server, a configured stream's otherwise.
    const stream = ctx.open ? key : (this.streams.find((s) => s.key === key)?.name ?? '');
    const a = await ctx.authorize(stream, key);
    if (!a.ok) return { ok: false, code: REFUSAL_CODES[a.reason], reason: a.message };
    return {
      ok: true,
      stream: a.stream,
      open: async (audio, preamble) => {
        const session = ctx.newSession(a.stream, a.config, {
          input: { kind: 'flv-stdin' },
          audio,
          inputPreamble: preamble,
        });
        await session.start();
        return session;
      },
      release: () => a.release(),
    };
  }
}

export const rtmpSource: SourceKind<'rtmp'> = {
  name: 'rtmp',
  create: (streams, ctx) => (ctx.open || streams.length > 0 ? new RtmpSource(streams, ctx) : undefined),
};
