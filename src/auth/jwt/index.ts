/**
 * JWT verification (jose) shared by publish and playback tokens: an HS256 shared secret, or RS256/ES256 public
 * keys fetched (and cached, refreshed on an unknown kid) from a JWKS URL. A token must carry `exp`.
 *
 * Claims Wellspring reads: `stream` (one name) or `streams` (a list), and `action` ("publish" or "play").
 */
import { type JWTPayload, createRemoteJWKSet, jwtVerify } from 'jose';

export interface JwtConfig {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
}

export type JwtAction = 'publish' | 'play';

export type JwtCheck =
  | { ok: true; expSec: number; payload: JWTPayload }
  | { ok: false; reason: 'invalid' | 'expired' | 'wrong-stream' };

/** True when the string has the shape of a compact JWS (three base64url parts). */
export const looksLikeJwt = (token: string): boolean =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) && token.startsWith('eyJ');

export interface JwtVerifier {
  verify(token: string, want: { stream: string; action: JwtAction }): Promise<JwtCheck>;
}

export function createJwtVerifier(c: JwtConfig): JwtVerifier {
  const algorithms = c.secret ? ['HS256'] : ['RS256', 'ES256'];
  const key = c.secret
    ? new TextEncoder().encode(c.secret)
    : createRemoteJWKSet(new URL(c.jwksUrl!), { timeoutDuration: 2000, cooldownDuration: 30_000 });
  return {
    async verify(token, want) {
      let payload: JWTPayload;
      try {
        const r = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
          algorithms,
          requiredClaims: ['exp'],
          ...(c.issuer ? { issuer: c.issuer } : {}),
          ...(c.audience ? { audience: c.audience } : {}),
        });
        payload = r.payload;
      } catch (err) {
        return {
          ok: false,
          reason: (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid',
        };
      }
      const streams = Array.isArray(payload.streams)
        ? payload.streams
        : typeof payload.stream === 'string'
          ? [payload.stream]
          : [];
      if (payload.action !== want.action || !streams.includes(want.stream))
        return { ok: false, reason: 'wrong-stream' };
      return { ok: true, expSec: payload.exp!, payload };
    },
  };
}
