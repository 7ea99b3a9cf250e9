/**
 * DASH-IF Live Media Ingest, Interface 1 (CMAF ingest): an encoder POSTs or PUTs each CMAF track to
 * `{root}{stream}/{track}` on the ingest HTTP listener, either one long-running chunked request carrying the
 * header and then every fragment (ffmpeg `-f mp4 -movflags +cmaf+frag_keyframe+empty_moov+default_base_moof
 * -method POST`), or one request per segment after a first request with the header (or empty: it only checks the
 * publishing point and credentials). Each track is a rendition, packaged as the encoder made it (no transcode):
 * its fragments become parts, segments end at sync samples per the stream's settings.
 *
 * Redundant senders (DASH-IF ingest 6.2): several requests may feed the same track with timestamp-aligned
 * fragments; the first copy of each media time wins, later copies are dropped and counted (TrackMerger).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamConfig } from '../../../config.js';
import {
  BoxParseError,
  type ChunkInfo,
  CmafStreamReader,
  type InitInfo,
  TimelineError,
} from '../../../core/index.js';
import type { Logger } from '../../../log.js';
import type {
  Authorization,
  IngestSource,
  PublishOrigin,
  SourceContext,
  SourceEndpoint,
  SourceHttpMount,
  SourceKind,
} from '../../source.js';
import type { StreamSession } from '../../stream-session.js';
import { parseIngestPath, publishKey } from './paths.js';
import { hasLmsg, type MergeDecision, TrackMerger } from './track.js';

/** A refusal with the status DASH-IF ingest 6.4 names (403 credentials or path, 404 unknown publishing point). */
interface Refusal {
  status: number;
  reason: string;
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One stream being published: its claim, its session, its tracks, the requests feeding them. */
interface Publication {
  stream: string;
  /** The credential the publication was accepted with: later requests must carry the same. */
  key: string;
  auth: Extract<Authorization, { ok: true }>;
  session: StreamSession;
  tracks: Map<string, TrackMerger>;
  /** Requests in flight. */
  open: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Set once the publication is ending (session stopping, claim being released). */
  ending: Promise<void> | undefined;
  log: Logger;
}

let senderIds = 0;

export class CmafSource implements IngestSource {
  readonly kind = 'cmaf';
  private readonly pubs = new Map<string, Publication>();
  private readonly starting = new Map<string, { key: string; p: Promise<Publication | Refusal> }>();
  private readonly log: Logger;
  private stopped = false;

  constructor(
    private readonly streams: StreamConfig[],
    private readonly ctx: SourceContext,
  ) {
    this.log = ctx.log.child({ component: 'cmaf-ingest' });
  }

  get root(): string {
    return this.ctx.config.cmafIngest.root;
  }

  async start(): Promise<void> {
    if (this.ctx.open)
      this.log.warn(
        { root: this.root },
        'no streams configured: CMAF ingest is OPEN, any stream name matching [A-Za-z0-9_-] may publish',
      );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pubs.values()].map((p) => this.end(p, 'ingest shutting down')));
  }

  endpoints(): SourceEndpoint[] {
    return [{ kind: 'cmaf', root: this.root }];
  }

  httpMounts(): SourceHttpMount[] {
    return [{ prefix: this.root, handler: (req, res) => this.handle(req, res) }];
  }

  /** The live publication of a stream (tests). */
  publication(
    stream: string,
  ): { session: StreamSession; duplicates: number; misaligned: number } | undefined {
    const p = this.pubs.get(stream);
    if (!p) return undefined;
    const tracks = [...p.tracks.values()];
    return {
      session: p.session,
      duplicates: tracks.reduce((n, t) => n + t.duplicates, 0),
      misaligned: tracks.reduce((n, t) => n + t.misaligned, 0),
    };
  }

  /** One ingest request: checks method, path and key, then reads the body into its track. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0]!;
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const refuse = (status: number, reason: string, extra: Record<string, unknown> = {}): void => {
      this.ctx.metrics.cmafRejected.inc({ status: String(status) });
      // The path only: the query may carry the key.
      this.log.warn({ status, reason, path, remote, ...extra }, 'CMAF ingest request refused');
      if (!res.headersSent) {
        res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
        res.end(`${reason}\n`, () => req.destroy());
      } else res.destroy();
    };
    if (req.method !== 'POST' && req.method !== 'PUT') {
      res.setHeader('Allow', 'POST, PUT');
      return refuse(405, `method ${req.method} not allowed`);
    }
    if (this.stopped) return refuse(503, 'ingest shutting down');
    const where = parseIngestPath(url, this.root);
    if (!where.ok) return refuse(where.status, where.reason);
    const { stream, track } = where;
    const q = url.indexOf('?');
    const query = q >= 0 ? Object.fromEntries(new URLSearchParams(url.slice(q + 1))) : {};
    const got = await this.publicationFor(stream, publishKey(url, req.headers.authorization), {
      remoteAddr: req.socket.remoteAddress,
      query,
    });
    if (!('session' in got)) return refuse(got.status, got.reason, { stream, track });
    const pub = got;
    pub.open++;
    if (pub.idleTimer) clearTimeout(pub.idleTimer);
    pub.idleTimer = undefined;
    let fragments = 0;
    let clean = false;
    try {
      fragments = await this.receive(pub, track, req, remote);
      clean = true;
      if (!res.headersSent) {
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      }
    } catch (err) {
      if (err instanceof RequestError) refuse(err.status, err.message, { stream, track });
      else if (err instanceof Error && /aborted|ECONNRESET|premature close/i.test(err.message + String(err)))
        pub.log.info({ track, remote, fragments }, 'CMAF sender connection lost');
      else {
        pub.log.error({ err, track, remote }, 'CMAF ingest request failed');
        refuse(500, 'internal error', { stream, track });
      }
    } finally {
      pub.open--;
      this.afterRequest(pub, clean && fragments > 1);
    }
  }

  /** Reads one request body (header and/or fragments) into the stream's track. Returns fragments read. */
  private async receive(
    pub: Publication,
    trackName: string,
    req: IncomingMessage,
    remote: string,
  ): Promise<number> {
    const sender = { id: ++senderIds, init: undefined as { bytes: Uint8Array; info: InitInfo } | undefined };
    const reader = new CmafStreamReader({ maxBoxBytes: this.ctx.config.cmafIngest.maxBoxBytes });
    const t = pub.tracks.get(trackName);
    // One-segment-per-request senders sent the header in an earlier request: read this body after it.
    if (t?.init) {
      reader.push(t.init.bytes);
      sender.init = t.init;
    }
    let fragments = 0;
    for await (const data of req as AsyncIterable<Buffer>) {
      if (pub.ending) break;
      let events;
      try {
        events = reader.push(data);
      } catch (err) {
        throw this.boxError(err, sender.init !== undefined);
      }
      for (const ev of events) {
        if (ev.kind === 'init') {
          sender.init = { bytes: ev.bytes, info: ev.info };
          await this.onInit(pub, trackName, ev.info, ev.bytes, remote);
        } else {
          fragments++;
          this.onFragment(pub, trackName, sender, ev.info, ev.bytes);
        }
      }
    }
    try {
      reader.end();
    } catch (err) {
      throw new RequestError(400, `body ended inside a box: ${(err as Error).message}`);
    }
    return fragments;
  }

  private boxError(err: unknown, haveInit: boolean): RequestError {
    if (err instanceof BoxParseError) {
      if (!haveInit && err.boxType === 'moof' && err.reason === 'unexpected-box')
        return new RequestError(412, 'fragment before its CMAF header (send ftyp+moov first)');
      return new RequestError(415, `not CMAF: ${err.message}`);
    }
    return new RequestError(400, String(err));
  }

  private async onInit(
    pub: Publication,
    trackName: string,
    info: InitInfo,
    bytes: Uint8Array,
    remote: string,
  ): Promise<void> {
    let t = pub.tracks.get(trackName);
    if (t && t.kind !== info.kind)
      throw new RequestError(400, `track ${trackName} is ${t.kind}; this header describes ${info.kind}`);
    if (!t) {
      t = new TrackMerger(trackName, info.kind);
      pub.tracks.set(trackName, t);
      pub.log.info({ track: trackName, kind: info.kind, codec: info.codec, remote }, 'CMAF track announced');
    }
    if (!t.init) t.init = { bytes, info };
    await pub.session.addTrack(trackName, info.kind);
  }

  private onFragment(
    pub: Publication,
    trackName: string,
    sender: { id: number; init: { bytes: Uint8Array; info: InitInfo } | undefined },
    info: ChunkInfo,
    bytes: Uint8Array,
  ): void {
    const t = pub.tracks.get(trackName)!;
    const init = sender.init!;
    const d: MergeDecision = t.decide(sender.id, init, info, Date.now());
    if (d === 'duplicate') {
      this.ctx.metrics.cmafDuplicates.inc({ stream: pub.stream });
      pub.log.debug(
        { track: trackName, tfdt: info.baseMediaDecodeTime, sender: sender.id },
        'duplicate CMAF fragment dropped',
      );
      return;
    }
    const s = pub.session;
    try {
      if (d === 'jump') {
        pub.log.info(
          { track: trackName, tfdt: info.baseMediaDecodeTime, expected: t.endTicks, sender: sender.id },
          'CMAF track time jumped: discontinuity',
        );
        s.trackDiscontinuity(trackName);
        s.pushTrack(trackName, init.bytes);
      } else if (t.fed !== init.bytes && !sameBytes(t.fed, init.bytes)) s.pushTrack(trackName, init.bytes);
      t.fed = init.bytes;
      s.pushTrack(trackName, bytes);
    } catch (err) {
      if (err instanceof BoxParseError || err instanceof TimelineError)
        throw new RequestError(415, `not CMAF: ${err.message}`);
      throw err;
    }
    t.accepted(sender.id, info, Date.now());
    if (hasLmsg(bytes)) {
      t.ended = true;
      pub.log.info({ track: trackName }, 'lmsg: last CMAF fragment of the track');
      if ([...pub.tracks.values()].every((x) => x.ended)) void this.end(pub, 'every track sent lmsg');
    }
  }

  /**
   * The stream's publication, started on its first request, which goes through the ingest's publish authorizer
   * like every other kind (config key, JWT, hook, refusal limiter: issue #12) and claims the stream; later
   * requests while it lives must carry the same key the first one was accepted with.
   */
  private async publicationFor(
    stream: string,
    key: string,
    from: PublishOrigin,
  ): Promise<Publication | Refusal> {
    const cfg = this.streams.find((s) => s.name === stream);
    const publish = this.ctx.config.auth.publish;
    // Only configured streams exist unless a JWT or the hook may admit others (then a refusal is a 403).
    if (!this.ctx.open && !cfg && !publish.jwt && !publish.hook)
      return { status: 404, reason: `unknown publishing point "${stream}"` };
    for (;;) {
      const have = this.pubs.get(stream);
      if (have && !have.ending)
        return sameKey(key, have.key) ? have : { status: 403, reason: 'wrong or missing publish key' };
      if (have?.ending) {
        await have.ending;
        continue;
      }
      const pending = this.starting.get(stream);
      if (pending) {
        if (!sameKey(key, pending.key)) return { status: 403, reason: 'wrong or missing publish key' };
        return pending.p;
      }
      const p = this.startPublication(stream, cfg, key, from).finally(() => this.starting.delete(stream));
      this.starting.set(stream, { key, p });
      return p;
    }
  }

  private async startPublication(
    stream: string,
    cfg: StreamConfig | undefined,
    key: string,
    from: PublishOrigin,
  ): Promise<Publication | Refusal> {
    const a = await this.ctx.authorize(stream, key, from);
    if (!a.ok)
      return {
        status: a.reason === 'bad-name' ? 400 : a.reason === 'unauthorized' ? 403 : 409,
        reason: a.message,
      };
    const tracks = cfg?.ingest.type === 'cmaf' ? (cfg.ingest.tracks ?? []) : [];
    const session = this.ctx.newSession(stream, a.config, {
      input: { kind: 'mp4-stdin' },
      audio: false,
      packagedTracks: tracks,
    });
    try {
      await session.start();
    } catch (err) {
      await a.release();
      throw err;
    }
    const pub: Publication = {
      stream,
      key,
      auth: a,
      session,
      tracks: new Map(),
      open: 0,
      idleTimer: undefined,
      ending: undefined,
      log: this.log.child({ stream }),
    };
    this.pubs.set(stream, pub);
    pub.log.info({ tracks }, 'CMAF ingest publication started');
    return pub;
  }

  /**
   * A request finished. A long-running request (more than one fragment) that ended cleanly, with no other
   * request open, ends the stream (DASH-IF: closing the connection ends the track); otherwise the stream ends
   * after idleEndMs without a request (one-segment-per-request senders, a sender that dropped).
   */
  private afterRequest(pub: Publication, cleanLongRunning: boolean): void {
    if (pub.ending || pub.open > 0) return;
    if (cleanLongRunning) {
      void this.end(pub, 'sender closed the connection');
      return;
    }
    pub.idleTimer = setTimeout(
      () => void this.end(pub, 'no request within cmafIngest.idleEndMs'),
      this.ctx.config.cmafIngest.idleEndMs,
    );
  }

  private end(pub: Publication, reason: string): Promise<void> {
    if (pub.ending) return pub.ending;
    if (pub.idleTimer) clearTimeout(pub.idleTimer);
    pub.ending = (async () => {
      try {
        await pub.session.stop(reason);
      } catch (err) {
        pub.log.error({ err }, 'stream session stop failed');
      }
      await pub.auth.release();
      if (this.pubs.get(pub.stream) === pub) this.pubs.delete(pub.stream);
      pub.log.info({ reason }, 'CMAF ingest publication ended');
    })();
    return pub.ending;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Constant-time key comparison (digests first, so lengths leak nothing); an open server's publisher may have none. */
function sameKey(given: string, expected: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

export const cmafSource: SourceKind<'cmaf'> = {
  name: 'cmaf',
  create: (streams, ctx) => (ctx.open || streams.length > 0 ? new CmafSource(streams, ctx) : undefined),
};
