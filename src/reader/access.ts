/**
 * Access checks of the reader (issue #12), before and after routing:
 *
 * - the CDN shared secret (auth.cdn): every path but /healthz needs the header when secrets are configured;
 * - signed playback (auth.playback): the token travels as a path prefix, `/s/{token}/live/{stream}/...`, so
 *   every relative URI of a playlist or MPD resolves under it and players need no code. The prefix is removed
 *   before routing; every request of a protected stream (multivariant, media playlists, blocking reloads, parts,
 *   preload hints, segments, MPDs, init) is checked.
 * - `/s/{token}/live/{stream}/.access` answers 200 when the token is valid here and now, cacheable for
 *   min(edgeCacheSec, time to expiry): the CDN asks it once per token and viewer address and remembers the
 *   answer, while media objects are cached under the path without the token (decision 011).
 *
 * Refusals are 403s from the catalogue (errors.ts) and one log line with the reason, stream and address: never
 * the token, the URL that carries it, or the secret.
 */
import type { IncomingMessage } from 'node:http';
import type { CdnGate } from '../auth/cdn/index.js';
import type { PlaybackPolicy, PlaybackRefusal } from '../auth/playback/index.js';
import type { Logger } from '../log.js';
import { ReaderError, type ErrorCode } from './errors.js';
import type { Exchange } from './respond.js';

export interface ReaderAccess {
  /**
   * Before routing: the CDN secret, and the token prefix taken off. Returns the path to route and the token,
   * or undefined when the request was answered here (the CDN's `.access` check).
   */
  gate(x: Exchange, pathname: string): Promise<{ pathname: string; token?: string } | undefined>;
  /** After routing, for a route of a stream: throws a 403 unless the stream is open or the token valid. */
  authorize(x: Exchange, stream: string, token: string | undefined): Promise<void>;
  /**
   * No CDN secret and no signed playback configured: gate() and authorize() let every request through as it
   * is, so the reader's fast lane may skip them (a `/s/{token}/` path still takes the full path).
   */
  readonly open: boolean;
}

const REASON_CODE: Record<PlaybackRefusal, ErrorCode> = {
  missing: 'TOKEN_MISSING',
  malformed: 'TOKEN_MALFORMED',
  expired: 'TOKEN_EXPIRED',
  'unknown-key': 'TOKEN_UNKNOWN_KEY',
  'bad-signature': 'TOKEN_BAD_SIGNATURE',
  'wrong-stream': 'TOKEN_WRONG_STREAM',
};

const TOKEN_PREFIX = /^\/s\/([A-Za-z0-9._~-]{1,2048})(\/live\/.*)$/;
const ACCESS_CHECK = /^\/live\/([^/]+)\/\.access$/;

/** A v4-mapped IPv6 address as the dotted form applications sign. */
const plainAddr = (a: string | undefined): string | undefined =>
  a?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

export function createReaderAccess(o: {
  cdn: CdnGate;
  playback: PlaybackPolicy;
  log: Logger;
  now?: () => number;
}): ReaderAccess {
  const log = o.log.child({ component: 'reader-access' });
  const now = o.now ?? Date.now;
  let cdnRefusals = 0;

  /**
   * The viewer's address: behind the CDN (its secret checked) the last X-Forwarded-For entry, which Varnish
   * appends from the connection it accepted; otherwise the socket's peer.
   */
  function viewerAddr(req: IncomingMessage): string | undefined {
    if (!o.cdn.open) {
      const xff = req.headers['x-forwarded-for'];
      const last = (Array.isArray(xff) ? xff.join(',') : xff)?.split(',').pop()?.trim();
      if (last) return plainAddr(last);
    }
    return plainAddr(req.socket.remoteAddress);
  }

  async function verify(x: Exchange, stream: string, token: string | undefined): Promise<number | undefined> {
    const addr = viewerAddr(x.req);
    const r = await o.playback.check({ stream, token, addr, nowSec: Math.floor(now() / 1000) });
    if (r.ok) return r.expSec;
    log.info({ reason: r.reason, stream, addr }, 'playback refused');
    throw new ReaderError(REASON_CODE[r.reason]);
  }

  return {
    open: o.cdn.open && !o.playback.enabled,
    async gate(x, pathname) {
      if (pathname !== '/healthz' && !o.cdn.passes(x.req.headers)) {
        // One line per 100 refusals: a scan of the origin around the CDN should not flood the log.
        if (cdnRefusals++ % 100 === 0)
          log.warn(
            { addr: plainAddr(x.req.socket.remoteAddress), refused: cdnRefusals },
            'request without the CDN secret refused',
          );
        throw new ReaderError('CDN_SECRET');
      }
      const m = TOKEN_PREFIX.exec(pathname);
      if (!m) return { pathname };
      const token = m[1]!;
      const rest = m[2]!;
      const check = ACCESS_CHECK.exec(rest);
      if (check) {
        const exp = await verify(x, decodeURIComponent(check[1]!), token);
        const ttl = Math.max(
          0,
          Math.min(o.playback.edgeCacheSec, (exp ?? Infinity) - Math.floor(now() / 1000) - 1),
        );
        x.res.writeHead(200, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Cache-Control': ttl > 0 ? `public, max-age=${ttl}` : 'no-store',
          'Content-Length': 3,
        });
        x.res.end(x.req.method === 'HEAD' ? undefined : 'ok\n');
        return undefined;
      }
      return { pathname: rest, token };
    },
    async authorize(x, stream, token) {
      if (!o.playback.enabled && token === undefined) return;
      await verify(x, stream, token);
    },
  };
}
