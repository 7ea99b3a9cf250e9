/**
 * SRT source: one listener per SRT stream, through ffmpeg's libsrt (the transcoder itself listens, caller
 * mode is the encoder's). A session lasts while one caller is connected; a new listener follows each caller.
 * Authentication is the stream's passphrase, checked by libsrt.
 */
import type { StreamConfig } from '../../../config.js';
import type { IngestSource, SourceContext, SourceEndpoint, SourceKind } from '../../source.js';

/** Pause between a caller leaving and the next listener. */
const RELISTEN_DELAY_MS = 300;
/** How long stop() waits for the listener loops to wind down. */
const STOP_WAIT_MS = 5000;

export class SrtSource implements IngestSource {
  readonly kind = 'srt';
  private stopped = false;
  private loops: Array<Promise<void>> = [];
  private signalStop: (reason: string) => void = () => undefined;
  private readonly whenStopped = new Promise<string>((r) => (this.signalStop = r));

  constructor(
    private readonly streams: StreamConfig[],
    private readonly ctx: SourceContext,
  ) {}

  start(): Promise<void> {
    for (const s of this.streams) this.loops.push(this.loop(s));
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop('ingest shutting down');
    await Promise.race([Promise.all(this.loops), new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
  }

  endpoints(): SourceEndpoint[] {
    return this.streams.flatMap((s) =>
      s.ingest.type === 'srt'
        ? [{ kind: 'srt' as const, stream: s.name, host: this.ctx.config.rtmp.host, port: s.ingest.port }]
        : [],
    );
  }

  private async loop(cfg: StreamConfig): Promise<void> {
    if (cfg.ingest.type !== 'srt') return;
    const srt = cfg.ingest;
    const log = this.ctx.log.child({ component: 'srt', stream: cfg.name, port: srt.port });
    log.info({ encrypted: Boolean(srt.passphrase), latencyMs: srt.latencyMs }, 'SRT listening');
    while (!this.stopped) {
      const session = this.ctx.newSession(cfg.name, cfg, {
        input: {
          kind: 'srt-listener',
          host: this.ctx.config.rtmp.host,
          port: srt.port,
          latencyMs: srt.latencyMs,
          passphrase: srt.passphrase,
          pbkeylen: srt.pbkeylen,
        },
        audio: true,
        audioTracks: srt.audioTracks,
        restartOnExit: false,
      });
      const ended = new Promise<string>((resolve) => (session.onEnded = resolve));
      try {
        await session.start();
        const reason = await Promise.race([ended, this.whenStopped]);
        await session.stop(reason);
      } catch (err) {
        log.error({ err }, 'SRT session failed');
        await session.stop('error').catch(() => undefined);
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, RELISTEN_DELAY_MS));
    }
  }
}

export const srtSource: SourceKind<'srt'> = {
  name: 'srt',
  create: (streams, ctx) => (streams.length > 0 ? new SrtSource(streams, ctx) : undefined),
};
