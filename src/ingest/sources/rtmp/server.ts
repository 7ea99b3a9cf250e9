/**
 * The RTMP listener: one port for every stream, routed by app and stream key. Each connection runs an
 * RtmpSession; an accepted publisher's audio/video is muxed to FLV and handed to its StreamSession's ffmpeg.
 */
import { type Server, type Socket, createServer } from 'node:net';
import type { Logger } from '../../../log.js';
import type { Metrics } from '../../../metrics.js';
import { decodeAmf0 } from '../../../rtmp/amf0.js';
import { RtmpProtocolError } from '../../../rtmp/errors.js';
import {
  flvHeader,
  flvTag,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoKeyframePicture,
  isVideoSequenceHeader,
} from '../../../rtmp/flv.js';
import { RtmpSession } from '../../../rtmp/session.js';
import type { StreamSession } from '../../stream-session.js';
import { InputLag } from './input-lag.js';

/** Opens the stream session: whether the source has audio, and the bytes each new ffmpeg gets first. */
export type SessionOpener = (audio: boolean, preamble: () => Uint8Array[]) => Promise<StreamSession>;

export type PublishDecision =
  | {
      ok: true;
      stream: string;
      open: SessionOpener;
      release: () => Promise<void>;
      /**
       * A backup publisher (`?role=backup`) on a stream that has a publisher: accepted, but its media is held
       * (the last GOP) until `turn` gives it the stream, once the primary is gone (undefined: it never will).
       */
      standby?: { turn: Promise<AcceptedPublish | undefined>; cancel(): void };
      /** Aborted when an operator kicks the publisher (issue #12): the connection is closed. */
      revoked?: AbortSignal;
    }
  | { ok: false; code: string; reason: string };

export type AcceptedPublish = Extract<PublishDecision, { ok: true }>;

/**
 * The publisher's declared role: `?role=backup` after the stream key (`rtmp://host/live/KEY?role=backup`; ffmpeg
 * and OBS send the key's query as part of the publish name).
 */
export function publishRole(rawName: string): 'primary' | 'backup' {
  const q = rawName.indexOf('?');
  return q >= 0 && new URLSearchParams(rawName.slice(q + 1)).get('role') === 'backup' ? 'backup' : 'primary';
}

export interface RtmpServerOptions {
  host: string;
  port: number;
  maxChunkSize: number;
  /** Handshake, connect and publish must be done within this time (default 10 s). */
  publishDeadlineMs?: number;
  /** A connection that sends nothing for this long is closed (default 30 s); not while we hold it paused. */
  idleTimeoutMs?: number;
  /** Open connections; beyond it new ones are closed at once (default 1000; 0: no limit). */
  maxConnections?: number;
  /** A publisher's media read more than this far behind it is dropped to the live edge (input-lag.ts; 0: never). */
  maxInputLagMs?: number;
  /** Decides on a publish request (app, key, declared role) and creates the stream session. */
  authorize(
    app: string,
    key: string,
    role: 'primary' | 'backup',
    /** Where it comes from and the name with its query (issue #12: the hook, the slow-down, tokens). */
    from?: { remoteAddr?: string | undefined; rawName?: string },
  ): Promise<PublishDecision>;
  log: Logger;
  metrics: Metrics;
}

const TAG_AUDIO = 8;
const TAG_VIDEO = 9;
const TAG_SCRIPT = 18;
/** Defaults: a connection must be publishing within this time, and may not go silent longer than IDLE_MS. */
const PUBLISH_DEADLINE_MS = 10_000;
const IDLE_MS = 30_000;
const MAX_CONNECTIONS = 1000;
/** Media buffered before the first video keyframe decides the ffmpeg inputs. */
const MAX_PRESTART_TAGS = 600;
/** A standby backup keeps its media since its last keyframe, at most this many tags. */
const MAX_STANDBY_TAGS = 1200;
/** Media a standby backup keeps from a keyframe (more than the transcoder's 0.5 s analyzeduration). */
const STANDBY_LEAD_MS = 1000;

export class RtmpServer {
  private server: Server | undefined;
  private sockets = new Set<Socket>();

  constructor(private readonly o: RtmpServerOptions) {}

  async listen(): Promise<number> {
    this.server = createServer((socket) => this.onConnection(socket));
    const max = this.o.maxConnections ?? MAX_CONNECTIONS;
    if (max > 0) this.server.maxConnections = max;
    this.server.on('drop', () => this.o.metrics.rtmpRejected.inc({ reason: 'max-connections' }));
    this.server.on('error', (err) => this.o.log.error({ err }, 'RTMP server error'));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port, this.o.host, () => resolve());
    });
    const addr = this.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.o.port;
    this.o.log.info({ host: this.o.host, port }, 'RTMP listening');
    return port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private onConnection(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const log = this.o.log.child({ component: 'rtmp', remote });
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const idleMs = this.o.idleTimeoutMs ?? IDLE_MS;
    socket.setTimeout(idleMs);
    const session = new RtmpSession({
      maxChunkSize: this.o.maxChunkSize,
      maxMessageBytes: 8 * 1024 * 1024,
      maxChunkStreams: 32,
    });
    let stream: StreamSession | undefined;
    let release: (() => Promise<void>) | undefined;
    let streamName: string | undefined;
    let closed = false;
    let prestart: Array<{ type: number; ts: number; payload: Uint8Array }> | undefined = [];
    /**
     * Media read while the session opens: the rest of the socket read that held the keyframe (the socket is paused
     * for the next one), sent on after what prestart held. Dropping it cost the first ~0.25 s of every stream (6
     * frames and 11 audio packets from ffmpeg as publisher), and showed the rest of the first GOP corrupted.
     */
    let starting: Array<{ type: number; ts: number; payload: Uint8Array }> | undefined;
    let sawAudio = false;
    let metaAudio: boolean | undefined;
    // What a restarted ffmpeg needs first: FLV header, metadata, decoder configurations; then a keyframe.
    let metaTag: Buffer | undefined;
    let audioSeq: Buffer | undefined;
    let videoSeq: Buffer | undefined;
    let waitKeyframe = true;
    let waitingDrain = false;
    const lag = new InputLag(this.o.maxInputLagMs ?? 0);
    /** A backup waiting for the stream: its last GOP is kept, nothing is sent on. */
    let standby: { cancel(): void } | undefined;
    /** Indexes of the keyframes in the standby buffer (prestart). */
    const standbyKeyframes: number[] = [];

    const deadline = setTimeout(() => {
      if (!session.publishing) finish('no publish within the deadline', 'warn');
    }, this.o.publishDeadlineMs ?? PUBLISH_DEADLINE_MS);

    const finish = (reason: string, level: 'info' | 'warn' = 'info'): void => {
      if (closed) return;
      closed = true;
      clearTimeout(deadline);
      this.sockets.delete(socket);
      log[level]({ stream: streamName, reason }, 'RTMP connection closed');
      socket.destroy();
      standby?.cancel();
      const s = stream;
      const r = release;
      stream = undefined;
      void (async () => {
        if (s) await s.stop(reason).catch((err: unknown) => log.error({ err }, 'stream session stop failed'));
        if (r) await r();
        this.o.metrics.publishers.dec(s ? 1 : 0);
      })();
    };

    const toFfmpeg = (type: number, ts: number, payload: Uint8Array): void => {
      if (!stream) return;
      const header =
        type === TAG_SCRIPT ||
        (type === TAG_VIDEO && isVideoSequenceHeader(payload)) ||
        (type === TAG_AUDIO && isAudioSequenceHeader(payload));
      if (!header && !keepUp(type, ts, stream)) return;
      // A keyframe is where a transcoder due for its recycle hands over (decision 021): everything before it went to
      // the old process, this tag and what follows go to the new one. Before the waitKeyframe check: the recycle
      // takes the preamble, which asks for a keyframe, and this is one.
      if (type === TAG_VIDEO && isVideoKeyframePicture(payload)) stream.keyframe();
      if (type === TAG_VIDEO) {
        if (isVideoSequenceHeader(payload)) videoSeq = flvTag(type, ts, payload);
        else if (waitKeyframe) {
          if (!isVideoKeyframe(payload)) return;
          waitKeyframe = false;
        }
      } else if (type === TAG_AUDIO && isAudioSequenceHeader(payload)) audioSeq = flvTag(type, ts, payload);
      else if (type === TAG_SCRIPT) metaTag = flvTag(type, ts, payload);
      if (type !== TAG_SCRIPT) stream.observeInput(ts, Date.now());
      if (!stream.write(flvTag(type, ts, payload)) && !waitingDrain) {
        waitingDrain = true;
        socket.pause();
        stream.onceDrain(() => {
          waitingDrain = false;
          socket.resume();
        });
      }
    };

    /**
     * False for media to drop: the input is being cut back to the live edge (input-lag.ts). On the cut the
     * transcoder is restarted; the queue behind it is then read out and dropped, and the new transcoder starts at
     * the first keyframe read on time.
     */
    const keepUp = (type: number, ts: number, s: StreamSession): boolean => {
      const verdict = lag.observe(ts, performance.now(), type === TAG_AUDIO ? 'audio' : 'video');
      if (verdict === 'pass') return true;
      if (verdict === 'cut') {
        this.o.metrics.rtmpBacklogCuts.inc();
        log.warn(
          { stream: streamName, lagMs: Math.round(lag.lagMs), maxLagMs: this.o.maxInputLagMs },
          'input behind its publisher (the transcoder slower than real time): dropping the backlog, restarting at the live edge',
        );
        s.killTranscoder();
        return false;
      }
      if (verdict === 'drop') return false;
      log.info({ stream: streamName, lagMs: Math.round(lag.lagMs) }, 'input back at the live edge');
      waitKeyframe = true;
      return true;
    };

    const startStream = async (open: SessionOpener): Promise<void> => {
      const buffered = prestart ?? [];
      prestart = undefined;
      const during: NonNullable<typeof starting> = [];
      starting = during;
      const audio = metaAudio ?? sawAudio;
      let s: StreamSession;
      try {
        s = await open(audio, () => {
          waitKeyframe = true;
          return [
            flvHeader(audio, true),
            ...[metaTag, videoSeq, audioSeq].filter((t): t is Buffer => t !== undefined),
          ];
        });
      } finally {
        starting = undefined;
      }
      if (closed) {
        await s.stop('publisher left during start');
        return;
      }
      stream = s;
      // Held media goes out at once: read now, its offsets only fall, so it is never taken for a queue.
      for (const t of buffered) toFfmpeg(t.type, t.ts, t.payload);
      for (const t of during) toFfmpeg(t.type, t.ts, t.payload);
      // The socket was paused while the session started (a takeover waits for the old one to stop): what queued
      // meanwhile is our own wait, not a transcoder behind; measure from what is read next.
      lag.reset();
    };

    /** Standby: keep what a transcoder needs to start at the newest keyframe when this backup takes over. */
    const onStandbyMedia = (type: number, ts: number, payload: Uint8Array): void => {
      const buf = prestart!;
      if (type === TAG_AUDIO) {
        sawAudio = true;
        if (isAudioSequenceHeader(payload)) return void (audioSeq = flvTag(type, ts, payload));
      } else if (type === TAG_SCRIPT) {
        metaTag = flvTag(type, ts, payload);
        return;
      } else if (type === TAG_VIDEO && isVideoSequenceHeader(payload))
        return void (videoSeq = flvTag(type, ts, payload));
      const keyframe = type === TAG_VIDEO && isVideoKeyframe(payload);
      if (buf.length === 0 && !keyframe) return;
      if (keyframe) standbyKeyframes.push(buf.length);
      buf.push({ type, ts, payload });
      // Keep at least STANDBY_LEAD_MS from a keyframe: a new transcoder then finds enough media to probe at once
      // (its analyzeduration) instead of waiting for it in real time.
      while (standbyKeyframes.length > 1 && ts - buf[standbyKeyframes[1]!]!.ts >= STANDBY_LEAD_MS) {
        const cut = standbyKeyframes[1]!;
        buf.splice(0, cut);
        standbyKeyframes.shift();
        for (let i = 0; i < standbyKeyframes.length; i++) standbyKeyframes[i]! -= cut;
      }
      if (buf.length > MAX_STANDBY_TAGS) {
        buf.length = 0;
        standbyKeyframes.length = 0;
      }
    };

    const takeOver = (d: AcceptedPublish): void => {
      standby = undefined;
      if (closed) {
        void d.release();
        return;
      }
      release = d.release;
      d.revoked?.addEventListener('abort', () => finish('dropped by an operator', 'warn'));
      opener = d.open;
      this.o.metrics.rtmpTakeovers.inc();
      this.o.metrics.publishers.inc();
      log.info({ stream: d.stream, buffered: prestart?.length ?? 0 }, 'RTMP backup publisher takes over');
      socket.pause();
      startStream(d.open)
        .then(() => socket.resume())
        .catch((err: unknown) => {
          log.error({ err, stream: streamName }, 'could not start the stream');
          finish('stream start failed', 'warn');
        });
    };

    const onMedia = (type: number, ts: number, payload: Uint8Array, open: SessionOpener): void => {
      if (standby) return onStandbyMedia(type, ts, payload);
      if (starting) return void starting.push({ type, ts, payload });
      if (prestart) {
        if (type === TAG_AUDIO) sawAudio = true;
        if (type === TAG_SCRIPT) {
          try {
            const meta = decodeAmf0(payload)[1];
            if (meta && typeof meta === 'object' && !Array.isArray(meta) && !(meta instanceof Date)) {
              metaAudio = meta.audiocodecid !== undefined && meta.audiocodecid !== null;
            }
          } catch {
            // advisory only
          }
        }
        prestart.push({ type, ts, payload });
        const keyframe = type === TAG_VIDEO && isVideoKeyframe(payload) && !isVideoSequenceHeader(payload);
        if (keyframe || prestart.length >= MAX_PRESTART_TAGS) {
          socket.pause();
          startStream(open)
            .then(() => socket.resume())
            .catch((err: unknown) => {
              log.error({ err, stream: streamName }, 'could not start the stream');
              finish('stream start failed', 'warn');
            });
        }
        return;
      }
      toFfmpeg(type, ts, payload);
    };

    let opener: SessionOpener | undefined;

    socket.on('data', (data: Buffer) => {
      if (closed) return;
      let actions;
      try {
        actions = session.push(data);
      } catch (err) {
        this.o.metrics.rtmpRejected.inc({ reason: 'protocol' });
        log.warn(
          {
            err: (err as Error).message,
            code: err instanceof RtmpProtocolError ? err.code : undefined,
            stream: streamName,
          },
          'RTMP protocol error',
        );
        finish('protocol error', 'warn');
        return;
      }
      for (const a of actions) {
        if (closed) return;
        switch (a.type) {
          case 'send':
            socket.write(a.bytes);
            break;
          case 'publish':
            socket.pause();
            void this.o
              .authorize(a.app, a.name, publishRole(a.rawName), {
                remoteAddr: socket.remoteAddress,
                rawName: a.rawName,
              })
              .then((d) => {
                if (closed) {
                  if (d.ok) d.standby?.cancel();
                  return d.ok ? d.release() : undefined;
                }
                if (!d.ok) {
                  this.o.metrics.rtmpRejected.inc({ reason: d.code });
                  log.warn({ app: a.app, code: d.code, reason: d.reason }, 'RTMP publish refused');
                  socket.write(session.rejectPublish(d.code, d.reason));
                  setTimeout(() => finish(`refused: ${d.reason}`, 'warn'), 100);
                  return;
                }
                streamName = d.stream;
                if (d.standby) {
                  // Accepted, so the encoder keeps sending; its media waits here for the primary to leave.
                  const sb = d.standby;
                  standby = sb;
                  opener = d.open;
                  log.info({ stream: d.stream, app: a.app }, 'RTMP backup publisher in standby');
                  sb.turn.then(
                    (turn) => (turn ? takeOver(turn) : finish('backup never got the stream', 'warn')),
                    (err: unknown) => {
                      log.error({ err }, 'backup takeover failed');
                      finish('backup takeover failed', 'warn');
                    },
                  );
                  socket.write(session.acceptPublish(a.name));
                  socket.resume();
                  return;
                }
                release = d.release;
                d.revoked?.addEventListener('abort', () => finish('dropped by an operator', 'warn'));
                opener = d.open;
                this.o.metrics.publishers.inc();
                log.info({ stream: d.stream, app: a.app }, 'RTMP publisher accepted');
                socket.write(session.acceptPublish(a.name));
                socket.resume();
              })
              .catch((err: unknown) => {
                log.error({ err }, 'publish authorization failed');
                finish('authorization error', 'warn');
              });
            break;
          case 'media':
            if (opener)
              onMedia(
                a.kind === 'audio' ? TAG_AUDIO : a.kind === 'video' ? TAG_VIDEO : TAG_SCRIPT,
                a.timestamp,
                a.payload,
                opener,
              );
            break;
          case 'unpublish':
            finish('publisher unpublished');
            return;
          case 'close':
            finish(a.reason, 'warn');
            return;
        }
      }
    });
    // A socket we paused (ffmpeg backpressure, a stream starting, a publish being authorized) reads nothing: its
    // silence is ours, not the publisher's.
    socket.on('timeout', () => {
      if (!socket.isPaused()) finish('idle timeout', 'warn');
      else socket.setTimeout(idleMs);
    });
    socket.on('error', (err) => finish(`socket error: ${err.message}`, 'warn'));
    socket.on('close', () => finish('publisher disconnected'));
  }
}
