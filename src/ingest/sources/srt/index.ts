/**
 * SRT source: one listener per SRT stream, through ffmpeg's libsrt (the transcoder itself listens, caller
 * mode is the encoder's). A session lasts while one caller is connected; a new listener follows each caller.
 * Authentication is the stream's passphrase, checked by libsrt; with a publish hook configured, each caller is
 * also put to the publish authorizer once its media arrives (see loop()).
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
      let endSession: (reason: string) => void = () => undefined;
      const ended = new Promise<string>((resolve) => (session.onEnded = endSession = resolve));
      let release: (() => Promise<void>) | undefined;
      let authorizing: Promise<void> | undefined;
      if (this.ctx.config.auth.publish.hook) {
        session.holdOutput();
        session.onInputOpened = once(() => (authorizing = authorize()));
      }
      // With a publish hook (issue #12), a caller that got past libsrt's passphrase is put to the authorizer
      // once ffmpeg has opened the input. ffmpeg's listener does not tell us the caller's streamid or address, so
      // the request is per stream: protocol "srt", the configured passphrase as the key, no address. A refusal
      // drops the caller (the ffmpeg is stopped) and the next listener takes the next caller. Until the answer,
      // ffmpeg's output is held, so a refused caller leaves nothing in the store.
      const authorize = async (): Promise<void> => {
        const a = await this.ctx.authorize(cfg.name, srt.passphrase ?? '').catch((err: unknown) => {
          log.error({ err }, 'SRT publish authorization failed');
          return { ok: false as const, reason: 'unauthorized' as const, message: 'authorization failed' };
        });
        if (!a.ok) {
          log.warn({ reason: a.reason, why: a.message }, 'SRT caller refused: dropped');
          endSession(`publish refused (${a.reason})`);
          return;
        }
        release = a.release;
        session.releaseOutput();
        a.revoked?.addEventListener('abort', () => endSession('publisher kicked'));
      };
      try {
        await session.start();
        const reason = await Promise.race([ended, this.whenStopped]);
        await session.stop(reason);
      } catch (err) {
        log.error({ err }, 'SRT session failed');
        await session.stop('error').catch(() => undefined);
      }
      await authorizing;
      await release?.().catch((err: unknown) => log.error({ err }, 'SRT stream release failed'));
      if (!this.stopped) await new Promise((r) => setTimeout(r, RELISTEN_DELAY_MS));
    }
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) f();
    done = true;
  };
}

export const srtSource: SourceKind<'srt'> = {
  name: 'srt',
  create: (streams, ctx) => (streams.length > 0 ? new SrtSource(streams, ctx) : undefined),
};
