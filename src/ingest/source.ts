/**
 * An ingest source kind: how media reaches a StreamSession (an RTMP server, an SRT listener through ffmpeg, a
 * watch folder, next an HTTP PUT or DASH-IF CMAF ingest). IngestService creates one source per configured kind
 * through the registry in `sources/index.ts`, starts and stops them, and owns everything the kinds share:
 * who may publish, the one-publisher-per-stream claim, and the live sessions.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config, StreamConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { SessionOptions, StreamSession } from './stream-session.js';

/** The `ingest.type` values of the config. */
export type SourceKindName = StreamConfig['ingest']['type'];

/** What a source listens on (logs, tests, the node handle). */
export type SourceEndpoint =
  | { kind: 'rtmp'; host: string; port: number }
  | { kind: 'srt'; stream: string; host: string; port: number }
  | { kind: 'watch'; stream: string; dir: string }
  /** CMAF ingest: requests under `root` on the ingest HTTP listener. */
  | { kind: 'cmaf'; root: string };

/** A request handler mounted on the ingest HTTP listener for every path under `prefix` (e.g. "/ingest/"). */
export interface SourceHttpMount {
  prefix: string;
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

/** Why a publish was refused: the name is not acceptable, the key is wrong, or the stream already has one. */
export type RefusalReason = 'bad-name' | 'unauthorized' | 'busy';

export type Authorization =
  | {
      ok: true;
      stream: string;
      /** The stream's config (undefined for an open server's ad-hoc streams). */
      config: StreamConfig | undefined;
      /** Gives the stream back (publisher gone); forgets the session if it is still the live one. */
      release(): Promise<void>;
      /** Aborted when an operator kicks the publisher or disables the stream: the source closes it (issue #12). */
      revoked?: AbortSignal;
    }
  | { ok: false; reason: RefusalReason; message: string };

/** Where a publish attempt comes from (issue #12): the hook is told, refusals are counted per address. */
export interface PublishOrigin {
  remoteAddr?: string | undefined;
  /** The publish URL's query (credentials may be in it: never logged). */
  query?: Record<string, string> | undefined;
}

/** What a source gets from the ingest. */
export interface SourceContext {
  config: Config;
  /** No streams configured: any safely named stream may publish (the demo). */
  open: boolean;
  log: Logger;
  metrics: Metrics;
  /**
   * May `key` publish `stream` through this kind? Claims the stream cluster-wide when it may (at most one
   * publisher per stream); the caller releases it when the publisher leaves.
   */
  authorize(stream: string, key: string, from?: PublishOrigin): Promise<Authorization>;
  /**
   * A session for `stream`, listed as the stream's live session until it stops. `cfg` is the stream's config
   * (settings fall back to the defaults without one).
   */
  newSession(stream: string, cfg: StreamConfig | undefined, options: SessionOptions): StreamSession;
}

export interface IngestSource {
  readonly kind: SourceKindName;
  start(): Promise<void>;
  /** Stops listening and ends the sessions this source runs. */
  stop(): Promise<void>;
  /** What it listens on (after start). */
  endpoints(): SourceEndpoint[];
  /** Sources reached over HTTP (CMAF ingest): the handlers the ingest HTTP listener mounts. */
  httpMounts?(): SourceHttpMount[];
}

export interface SourceKind<K extends SourceKindName = SourceKindName> {
  readonly name: K;
  /**
   * A source for the configured streams of this kind (`streams`: those whose `ingest.type` is this kind), or
   * undefined when there is nothing to listen for.
   */
  create(streams: StreamConfig[], ctx: SourceContext): IngestSource | undefined;
}
