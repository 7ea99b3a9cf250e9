/** Who may publish (issue #12): config keys, JWT publish tokens, the HTTP hook (a real server), the slow-down. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublishAuthorizer } from '../../src/auth/publish/index.js';
import { FailureLimiter } from '../../src/auth/publish/limiter.js';
import { parseConfig } from '../../src/config.js';

const log = pino({ level: 'silent' });
const JWT_SECRET = 'publish-jwt-secret-0123456789';
const jwt = (claims: Record<string, unknown>, expSec: number) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expSec)
    .sign(new TextEncoder().encode(JWT_SECRET));
const now = () => Math.floor(Date.now() / 1000);

let hook: Server;
let hookUrl: string;
const hookBodies: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const b = JSON.parse(body) as Record<string, unknown>;
      hookBodies.push(b);
      if (b.key === 'slow-key') return; // never answers
      res.statusCode = b.key === 'hook-good-key' ? 204 : 403;
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`;
});
afterAll(async () => {
  hook.closeAllConnections();
  await new Promise<void>((r) => hook.close(() => r()));
});

const config = (auth: Record<string, unknown>, streams: unknown[] = [{ name: 'cam', key: 'cam-key-0123' }]) =>
  parseConfig({ streams, auth: { publish: auth } });

describe('publish authorizer', () => {
  it('is open only with no streams, hook or JWT', () => {
    expect(createPublishAuthorizer(config({}, []), { log }).open).toBe(true);
    expect(createPublishAuthorizer(config({}), { log }).open).toBe(false);
    expect(createPublishAuthorizer(config({ jwt: { secret: JWT_SECRET } }, []), { log }).open).toBe(false);
    expect(createPublishAuthorizer(config({ hook: { url: hookUrl } }, []), { log }).open).toBe(false);
  });

  it('allows a configured key for its protocol only', async () => {
    const a = createPublishAuthorizer(config({}), { log });
    const r = (o: Partial<{ protocol: string; stream: string; key: string }>) =>
      a.authorize({ protocol: 'rtmp', stream: 'cam', key: 'cam-key-0123', remoteAddr: '10.0.0.1', ...o });
    expect(await r({})).toMatchObject({ ok: true, stream: 'cam', by: 'keys' });
    expect(await r({ key: 'cam-key-0124' })).toMatchObject({ ok: false, reason: 'unauthorized' });
    expect(await r({ protocol: 'cmaf' })).toMatchObject({ ok: false, reason: 'unauthorized' });
    expect(await r({ stream: '' })).toMatchObject({ ok: false, reason: 'unauthorized' });
  });

  it('takes a JWT scoped to the stream and the publish action, with expiry', async () => {
    const a = createPublishAuthorizer(config({ jwt: { secret: JWT_SECRET } }), { log });
    const r = async (claims: Record<string, unknown>, exp = now() + 60, stream = 'live1') =>
      a.authorize({ protocol: 'rtmp', stream, key: await jwt(claims, exp), remoteAddr: '10.0.0.2' });
    expect(await r({ stream: 'live1', action: 'publish' })).toMatchObject({ ok: true, by: 'jwt' });
    expect(await r({ stream: 'live1', action: 'publish' }, now() - 5)).toMatchObject({
      ok: false,
      message: 'publish token expired',
    });
    expect(await r({ stream: 'live2', action: 'publish' })).toMatchObject({ ok: false });
    expect(await r({ stream: 'live1', action: 'play' })).toMatchObject({ ok: false });
  });

  it('asks the hook with the documented body; 2xx allows, others refuse, no answer fails closed', async () => {
    const a = createPublishAuthorizer(config({ hook: { url: hookUrl, timeoutMs: 300 } }), { log });
    const ask = (key: string) =>
      a.authorize({ protocol: 'rtmp', stream: 'show', key, remoteAddr: '10.0.0.3', query: { key } });
    hookBodies.length = 0;
    expect(await ask('hook-good-key')).toMatchObject({ ok: true, by: 'hook' });
    expect(hookBodies[0]).toEqual({
      action: 'publish',
      protocol: 'rtmp',
      stream: 'show',
      key: 'hook-good-key',
      remoteAddr: '10.0.0.3',
      query: { key: 'hook-good-key' },
    });
    expect(await ask('hook-bad-key')).toMatchObject({
      ok: false,
      message: 'refused by the publish hook (403)',
    });
    expect(await ask('slow-key')).toMatchObject({ ok: false, message: 'publish hook unavailable' });
    // Config keys still win without asking the hook.
    const n = hookBodies.length;
    expect(
      await a.authorize({ protocol: 'rtmp', stream: 'cam', key: 'cam-key-0123', remoteAddr: '10.0.0.3' }),
    ).toMatchObject({ ok: true, by: 'keys' });
    expect(hookBodies.length).toBe(n);
  });

  it('a hook that is down refuses (fail closed)', async () => {
    const a = createPublishAuthorizer(config({ hook: { url: 'http://127.0.0.1:1/auth', timeoutMs: 500 } }), {
      log,
    });
    expect(
      await a.authorize({ protocol: 'rtmp', stream: 'show', key: 'k', remoteAddr: '10.0.0.4' }),
    ).toMatchObject({ ok: false, reason: 'unauthorized' });
  });

  it('refuses an address out of tokens before checking anything, even a right key, then lets it try again', async () => {
    let t = 0;
    const a = createPublishAuthorizer(
      config({ hook: { url: hookUrl }, failures: { burst: 3, perMinute: 2 } }),
      { log, now: () => t },
    );
    hookBodies.length = 0;
    const results = [];
    for (let i = 0; i < 20; i++)
      results.push(
        await a.authorize({ protocol: 'rtmp', stream: 'show', key: `guess-${i}`, remoteAddr: '10.0.0.5' }),
      );
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(hookBodies.length).toBe(3); // only the burst reached the hook
    const right = { protocol: 'rtmp', stream: 'cam', key: 'cam-key-0123', remoteAddr: '10.0.0.5' };
    expect(await a.authorize(right)).toMatchObject({ ok: false, message: /too many/ });
    // Another address is not affected.
    expect(await a.authorize({ ...right, remoteAddr: '10.0.0.6' })).toMatchObject({ ok: true });
    t += 30_000; // one token back
    expect(await a.authorize(right)).toMatchObject({ ok: true });
  });
});

describe('failure limiter', () => {
  it('keeps at most maxAddresses, forgetting the oldest', () => {
    const l = new FailureLimiter({ burst: 1, perMinute: 1, maxAddresses: 10, now: () => 0 });
    for (let i = 0; i < 50; i++) l.failed(`10.1.0.${i}`);
    expect(l.size).toBe(10);
    expect(l.allows('10.1.0.0')).toBe(true);
    expect(l.allows('10.1.0.49')).toBe(false);
  });
});
