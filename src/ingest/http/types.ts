/**
 * The ingest HTTP listener's mount contract (issue #10). One server on the ingest port (config `httpIngest`,
 * default 8090) carries every HTTP ingest protocol: a mount owns every request whose path starts with its prefix
 * (DASH-IF CMAF ingest at `/ingest/`), and everything else goes to the fallback (the MediaStore-compatible object
 * API). A handler answers the request itself; an error it throws (or rejects with) becomes a 500 with a log line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A handler owning every path that starts with `prefix` (which begins and ends with "/", e.g. "/ingest/"). */
export interface HttpMount {
  prefix: string;
  handler: HttpHandler;
}

/** The ingest server's limits (same meaning as the reader's `http.*` config). */
export interface IngestHttpTimeouts {
  /** Time a client has to send a request's headers (slowloris). */
  headersTimeoutMs: number;
  /**
   * Time a client has to send a whole request. 0: no limit (long-running chunked POSTs of CMAF ingest); the
   * handlers then bound their own uploads.
   */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** A connection with no byte in or out for this long is ended. */
  idleTimeoutMs: number;
  /** Open connections; beyond it new ones are closed at once. 0: no limit. */
  maxConnections: number;
}
