/**
 * Who may watch: signed playback tokens (HMAC, token.ts) or JWTs, for the streams the config protects. The
 * reader asks `check` on every request of a stream (src/reader/access.ts); this module knows nothing of HTTP.
 */
import { type JwtVerifier, createJwtVerifier, looksLikeJwt } from '../jwt/index.js';
import { type PlaybackKey, type TokenRefusal, isPlaybackToken, verifyPlayback } from './token.js';

export interface PlaybackConfig {
  keys: readonly PlaybackKey[];
  jwt?:
    | {
        secret?: string | undefined;
        jwksUrl?: string | undefined;
        issuer?: string | undefined;
        audience?: string | undefined;
      }
    | undefined;
  protect: 'all' | readonly string[];
  edgeCacheSec: number;
}

export type PlaybackRefusal = 'missing' | TokenRefusal | 'wrong-stream';

export type PlaybackCheck =
  | {
      ok: true;
      /** Expiry of the token that allowed it (undefined: open stream, no token). */ expSec?: number;
    }
  | { ok: false; reason: PlaybackRefusal };

export interface PlaybackPolicy {
  /** True when some stream needs a token. */
  readonly enabled: boolean;
  readonly edgeCacheSec: number;
  isProtected(stream: string): boolean;
  /** A token given is always checked, even for an open stream; none is fine only for an open stream. */
  check(o: {
    stream: string;
    token: string | undefined;
    addr: string | undefined;
    nowSec: number;
  }): Promise<PlaybackCheck>;
}

export function playbackPolicy(c: PlaybackConfig): PlaybackPolicy {
  const jwt: JwtVerifier | undefined = c.jwt ? createJwtVerifier(c.jwt) : undefined;
  const enabled = c.keys.length > 0 || jwt !== undefined;
  const named = c.protect === 'all' ? undefined : new Set(c.protect);
  const isProtected = (stream: string): boolean => enabled && (named === undefined || named.has(stream));
  return {
    enabled,
    edgeCacheSec: c.edgeCacheSec,
    isProtected,
    async check({ stream, token, addr, nowSec }) {
      if (token === undefined) return isProtected(stream) ? { ok: false, reason: 'missing' } : { ok: true };
      if (isPlaybackToken(token)) {
        const r = verifyPlayback(token, { stream, nowSec, keys: c.keys, addr });
        return r.ok ? { ok: true, expSec: r.expSec } : r;
      }
      if (jwt && looksLikeJwt(token)) {
        const r = await jwt.verify(token, { stream, action: 'play' });
        if (r.ok) return { ok: true, expSec: r.expSec };
        return { ok: false, reason: r.reason === 'invalid' ? 'malformed' : r.reason };
      }
      return { ok: false, reason: 'malformed' };
    },
  };
}
