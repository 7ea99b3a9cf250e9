/**
 * The ingest HTTP listener: its own server (never the public reader's), routing by path prefix to the mounted
 * handlers (CMAF ingest at /ingest/) and everything else to the fallback (the object API). See types.ts.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Logger } from '../../log.js';
import type { HttpHandler, HttpMount, IngestHttpTimeouts } from './types.js';

export interface IngestHttpOptions {
  host: string;
  port: number;
  mounts: HttpMount[];
  fallback: HttpHandler;
  timeouts: IngestHttpTimeouts;
  log: Logger;
}

export interface IngestHttp {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The request router itself (usable in-process without listening). */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** Picks the handler for a request path: the longest matching mount prefix, else the fallback. */
export function pickHandler(
  mounts: HttpMount[],
  fallback: HttpHandler,
  url: string | undefined,
): HttpHandler {
  const path = (url ?? '/').split('?', 1)[0]!;
  let best: HttpMount | undefined;
  for (const m of mounts)
    if (path.startsWith(m.prefix) && (!best || m.prefix.length > best.prefix.length)) best = m;
  return best ? best.handler : fallback;
}

export async function startIngestHttp(o: IngestHttpOptions): Promise<IngestHttp> {
  const log = o.log.child({ component: 'ingest-http' });
  for (const m of o.mounts)
    if (!m.prefix.startsWith('/') || !m.prefix.endsWith('/'))
      throw new Error(`mount prefix "${m.prefix}" must begin and end with "/"`);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const h = pickHandler(o.mounts, o.fallback, req.url);
    const failed = (err: unknown): void => {
      log.error({ err, method: req.method, path: (req.url ?? '').split('?', 1)[0] }, 'ingest request failed');
      if (res.headersSent) res.destroy();
      else {
        res.statusCode = 500;
        res.setHeader('Connection', 'close');
        res.end();
      }
    };
    try {
      const r = h(req, res);
      if (r) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  };
  const t = o.timeouts;
  const s: Server = createServer(
    {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: t.requestTimeoutMs === 0 ? 0 : Math.max(t.requestTimeoutMs, t.headersTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(t.headersTimeoutMs / 4))),
    },
    handle,
  );
  s.keepAliveTimeout = t.keepAliveTimeoutMs;
  s.timeout = t.idleTimeoutMs;
  if (t.maxConnections > 0) s.maxConnections = t.maxConnections;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(o.port, o.host, () => resolve());
  });
  const a = s.address();
  const port = typeof a === 'object' && a ? a.port : o.port;
  log.info({ host: o.host, port, mounts: o.mounts.map((m) => m.prefix) }, 'ingest HTTP listening');
  return {
    port,
    handle,
    async close() {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
