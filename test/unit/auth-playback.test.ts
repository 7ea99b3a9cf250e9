/** Signed playback tokens, JWT playback tokens, the playback policy and the CDN secret gate (issue #12). */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { cdnGate } from '../../src/auth/cdn/index.js';
import { playbackPolicy } from '../../src/auth/playback/index.js';
import { playbackMessage, signPlayback, verifyPlayback } from '../../src/auth/playback/token.js';
import { createHmac } from 'node:crypto';

const k1 = { id: 'k1', secret: 'first-secret-0123456789' };
const k2 = { id: 'k2', secret: 'second-secret-0123456789' };
const NOW = 1_800_000_000;

describe('signed playback tokens', () => {
  const token = signPlayback({ stream: 'main', expSec: NOW + 60, key: k1 });

  it('verifies for its stream before expiry with either rotation key listed', () => {
    expect(verifyPlayback(token, { stream: 'main', nowSec: NOW, keys: [k1, k2], addr: '10.0.0.1' })).toEqual({
      ok: true,
      expSec: NOW + 60,
      kid: 'k1',
    });
    const t2 = signPlayback({ stream: 'main', expSec: NOW + 60, key: k2 });
    expect(verifyPlayback(t2, { stream: 'main', nowSec: NOW, keys: [k1, k2], addr: undefined }).ok).toBe(
      true,
    );
  });

  it('is refused for another stream, once expired, tampered, with a retired key, or garbled', () => {
    const v = (t: string, o: Partial<Parameters<typeof verifyPlayback>[1]> = {}) =>
      verifyPlayback(t, { stream: 'main', nowSec: NOW, keys: [k1, k2], addr: undefined, ...o });
    expect(v(token, { stream: 'other' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(v(token, { nowSec: NOW + 60 })).toEqual({ ok: false, reason: 'expired' });
    expect(v(token.replace(`.${NOW + 60}.`, `.${NOW + 9999}.`))).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    const sig = token.split('.')[4]!;
    const flipped = token.slice(0, -sig.length) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    expect(v(flipped)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(v(token, { keys: [k2] })).toEqual({ ok: false, reason: 'unknown-key' });
    const forged = signPlayback({
      stream: 'main',
      expSec: NOW + 60,
      key: { id: 'k1', secret: 'not-the-secret-xxxx' },
    });
    expect(v(forged)).toEqual({ ok: false, reason: 'bad-signature' });
    for (const bad of [
      '',
      'h1',
      'h1.k1.x.a.sig',
      `h1.k1.${NOW}.z.${sig}`,
      'eyJhbGciOi.x.y',
      'h1.k1.1.a.short',
    ])
      expect(v(bad).ok, bad).toBe(false);
  });

  it('binds to the viewer address when asked, without writing it in the token', () => {
    const t = signPlayback({ stream: 'main', expSec: NOW + 60, key: k1, addr: '192.0.2.7' });
    expect(t).not.toContain('192.0.2.7');
    const v = (addr: string | undefined) =>
      verifyPlayback(t, { stream: 'main', nowSec: NOW, keys: [k1], addr }).ok;
    expect(v('192.0.2.7')).toBe(true);
    expect(v('192.0.2.8')).toBe(false);
    expect(v(undefined)).toBe(false);
  });

  it('signs the documented message, so an application can sign its own', () => {
    const sig = createHmac('sha256', k1.secret)
      .update(playbackMessage('/live/main/', NOW + 60, undefined))
      .digest('base64url');
    expect(token).toBe(`h1.k1.${NOW + 60}.a.${sig}`);
    expect(playbackMessage('/live/main/', 5, undefined)).toBe('wellspring-playback-v1\n/live/main/\n5\n*');
  });
});

describe('playback policy', () => {
  const jwtSecret = 'a-jwt-secret-of-enough-length';
  const jwt = (claims: Record<string, unknown>, expSec: number) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(expSec)
      .sign(new TextEncoder().encode(jwtSecret));
  const now = Math.floor(Date.now() / 1000);

  it('protects the named streams only; a token given is checked even on an open stream', async () => {
    const p = playbackPolicy({ keys: [k1], protect: ['paid'], edgeCacheSec: 10 });
    expect(await p.check({ stream: 'free', token: undefined, addr: undefined, nowSec: NOW })).toEqual({
      ok: true,
    });
    expect(await p.check({ stream: 'paid', token: undefined, addr: undefined, nowSec: NOW })).toEqual({
      ok: false,
      reason: 'missing',
    });
    expect((await p.check({ stream: 'free', token: 'junk', addr: undefined, nowSec: NOW })).ok).toBe(false);
  });

  it('accepts a JWT for the stream and the play action, and refuses others', async () => {
    const p = playbackPolicy({ keys: [], jwt: { secret: jwtSecret }, protect: 'all', edgeCacheSec: 10 });
    const check = async (t: string, stream = 'main') =>
      p.check({ stream, token: t, addr: undefined, nowSec: now });
    expect((await check(await jwt({ stream: 'main', action: 'play' }, now + 60))).ok).toBe(true);
    expect(await check(await jwt({ streams: ['x', 'main'], action: 'play' }, now + 60))).toMatchObject({
      ok: true,
    });
    expect(await check(await jwt({ stream: 'main', action: 'play' }, now + 60), 'other')).toEqual({
      ok: false,
      reason: 'wrong-stream',
    });
    expect(await check(await jwt({ stream: 'main', action: 'publish' }, now + 60))).toEqual({
      ok: false,
      reason: 'wrong-stream',
    });
    expect(await check(await jwt({ stream: 'main', action: 'play' }, now - 10))).toEqual({
      ok: false,
      reason: 'expired',
    });
    const other = await new SignJWT({ stream: 'main', action: 'play' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode('some-other-secret-value'));
    expect(await check(other)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('CDN secret gate', () => {
  it('passes either rotation secret in the configured header, nothing else', () => {
    const g = cdnGate({
      header: 'X-CDN-Secret',
      secrets: ['old-secret-0123456789', 'new-secret-0123456789'],
    });
    expect(g.open).toBe(false);
    expect(g.passes({ 'x-cdn-secret': 'old-secret-0123456789' })).toBe(true);
    expect(g.passes({ 'x-cdn-secret': 'new-secret-0123456789' })).toBe(true);
    expect(g.passes({ 'x-cdn-secret': 'new-secret-012345678' })).toBe(false);
    expect(g.passes({})).toBe(false);
    expect(cdnGate({ header: 'X-CDN-Secret', secrets: [] }).passes({})).toBe(true);
  });
});
