/**
 * Signed playback tokens (HMAC-SHA256), pure: no clock, no I/O, no logging. The caller passes the time.
 *
 * A token authorises one stream path prefix (`/live/{stream}/`) until an expiry, optionally for one viewer
 * address, and names the key that signed it so two keys can be valid at once (rotation):
 *
 *   h1.{kid}.{exp}.{scope}.{sig}
 *     kid   key id, [A-Za-z0-9_-]{1,16}
 *     exp   expiry, Unix seconds
 *     scope "a" (any address) or "i" (bound to the viewer's address, which is signed but not written)
 *     sig   base64url(HMAC-SHA256(secret, "wellspring-playback-v1\n" + prefix + "\n" + exp + "\n" + addr))
 *           addr is the viewer's address for scope "i", "*" otherwise
 *
 * Every character is URL-path safe, so the token can be a path segment: /s/{token}/live/{stream}/master.m3u8.
 * Players resolve every relative URI of a playlist or MPD under that prefix, so the token travels without
 * player code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PLAYBACK_TOKEN_VERSION = 'h1';
export const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;

export interface PlaybackKey {
  id: string;
  secret: string;
}

/** The path prefix a token signs for a stream. */
export const streamPrefix = (stream: string): string => `/live/${stream}/`;

/** The exact bytes signed (documented in the README so applications can sign their own). */
export function playbackMessage(prefix: string, expSec: number, addr: string | undefined): string {
  return `wellspring-playback-v1\n${prefix}\n${expSec}\n${addr ?? '*'}`;
}

function mac(secret: string, message: string): Buffer {
  return createHmac('sha256', secret).update(message).digest();
}

export interface SignOptions {
  stream: string;
  expSec: number;
  key: PlaybackKey;
  /** Bind to one viewer address (as the origin sees it: the socket, or the CDN's X-Forwarded-For). */
  addr?: string;
}

export function signPlayback(o: SignOptions): string {
  if (!KEY_ID.test(o.key.id)) throw new Error('key id must be 1-16 characters of A-Z a-z 0-9 _ -');
  if (!Number.isSafeInteger(o.expSec) || o.expSec < 0) throw new Error('expiry must be Unix seconds');
  const sig = mac(o.key.secret, playbackMessage(streamPrefix(o.stream), o.expSec, o.addr)).toString(
    'base64url',
  );
  return `${PLAYBACK_TOKEN_VERSION}.${o.key.id}.${o.expSec}.${o.addr ? 'i' : 'a'}.${sig}`;
}

/** Why a token is refused; each maps to one reader error code. */
export type TokenRefusal = 'malformed' | 'expired' | 'unknown-key' | 'bad-signature';

export type TokenCheck = { ok: true; expSec: number; kid: string } | { ok: false; reason: TokenRefusal };

/** True when the string has the shape of a signed playback token (not a JWT). */
export const isPlaybackToken = (token: string): boolean => token.startsWith(`${PLAYBACK_TOKEN_VERSION}.`);

export interface VerifyOptions {
  stream: string;
  nowSec: number;
  /** The keys that may have signed it (two during a rotation). */
  keys: readonly PlaybackKey[];
  /** The viewer's address, for address-bound tokens. */
  addr: string | undefined;
}

export function verifyPlayback(token: string, o: VerifyOptions): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 5 || parts[0] !== PLAYBACK_TOKEN_VERSION) return { ok: false, reason: 'malformed' };
  const [, kid, expS, scope, sigS] = parts as [string, string, string, string, string];
  if (!KEY_ID.test(kid) || !/^\d{1,12}$/.test(expS) || (scope !== 'a' && scope !== 'i'))
    return { ok: false, reason: 'malformed' };
  if (!/^[A-Za-z0-9_-]{43}$/.test(sigS)) return { ok: false, reason: 'malformed' };
  const key = o.keys.find((k) => k.id === kid);
  if (!key) return { ok: false, reason: 'unknown-key' };
  const expSec = Number(expS);
  const want = mac(
    key.secret,
    playbackMessage(streamPrefix(o.stream), expSec, scope === 'i' ? (o.addr ?? '') : undefined),
  );
  const got = Buffer.from(sigS, 'base64url');
  // The signature is checked before the expiry, so a forged token never learns whether its expiry was fine.
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return { ok: false, reason: 'bad-signature' };
  if (expSec <= o.nowSec) return { ok: false, reason: 'expired' };
  return { ok: true, expSec, kid };
}
