/**
 * The reader's error catalogue and the store's outage classifier: every code is documented in docs/errors.md,
 * and the errors the Redis adapter's real connections throw when Redis is away are told apart from programming errors.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { ERRORS, ReaderError, toReaderError } from '../../src/reader/errors.js';
import { isStoreUnavailable, StoreUnavailableError } from '../../src/store/errors.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { type Client, connect, createRedisStore } from '../../src/store/redis/index.js';

describe('the error catalogue', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code, with its status, in docs/errors.md', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      const row = doc.split('\n').find((l) => new RegExp(`^\\|\\s*\`${code}\`\\s*\\|`).test(l));
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined();
      expect(row!.split('|')[2]!.trim(), code).toBe(String(spec.status));
    }
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('classifies what handlers throw: its own errors as they are, outages as 503, the rest as 500', () => {
    const own = new ReaderError('NOT_FOUND');
    expect(toReaderError(own)).toBe(own);
    expect(toReaderError(new StoreUnavailableError()).code).toBe('STORE_UNAVAILABLE');
    expect(toReaderError(new TypeError('x is undefined')).code).toBe('INTERNAL');
    expect(toReaderError('a string').code).toBe('INTERNAL');
    expect(toReaderError(new TypeError('boom')).cause).toBeInstanceOf(TypeError);
  });
});

describe('isStoreUnavailable', () => {
  it('recognises the memory adapter’s outage and nothing else it throws', async () => {
    const store = new MemoryStore();
    store.unreachable = new Error('down');
    const err = await store.manifests.read('cam', 'master.m3u8').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(isStoreUnavailable(err)).toBe(true);
    store.unreachable = undefined;
    const unsafe = await store.manifests.read('../x', 'master.m3u8').catch((e: unknown) => e);
    expect(unsafe).toBeInstanceOf(Error);
    expect(isStoreUnavailable(unsafe)).toBe(false);
  });

  it('recognises what the Redis adapter throws when Redis is down or slow, and not a wrong command', async () => {
    // A port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dead = { kind: 'standalone' as const, url: `redis://127.0.0.1:${port}` };
    const live = { kind: 'standalone' as const, url: inject('redisUrl') };
    const errorOf = async (client: Client, run: (c: Client) => Promise<unknown>): Promise<unknown> => {
      try {
        return await run(client).then(
          () => undefined,
          (e: unknown) => e,
        );
      } finally {
        client.disconnect();
      }
    };
    // The reader's connection never queues while disconnected.
    const offline = await errorOf(connect(dead, 'reader'), (c) => c.get('k'));
    expect((offline as Error).message).toBe("Stream isn't writeable and enableOfflineQueue options is false");
    // Command connections retry once, then give up.
    const retries = await errorOf(connect(dead, 'command'), (c) => c.get('k'));
    expect((retries as Error).name).toBe('MaxRetriesPerRequestError');
    // The reader's command timeout (1 s), on a command Redis holds.
    const timedOut = await errorOf(connect(live, 'reader'), async (c) => {
      if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
      return c.blpop('reader-errors-test-nothing', 5);
    });
    expect((timedOut as Error).message).toBe('Command timed out');
    const closed = await errorOf(connect(live, 'command'), async (c) => {
      await c.ping();
      c.disconnect();
      return c.get('k');
    });
    expect((closed as Error).message).toMatch(/^Connection is closed/);
    // Through a port, as the reader calls it.
    const store = createRedisStore({ target: dead, prefix: 'reader-errors-test', role: 'reader' });
    const viaPort = await store.manifests.read('cam', 'master.m3u8').catch((e: unknown) => e);
    await store.close();
    expect(viaPort).toBeInstanceOf(Error);
    const wrongType = await errorOf(connect(live, 'command'), async (c) => {
      await c.set('reader-errors-test-string', 'x', 'EX', 10);
      return c.lpush('reader-errors-test-string', 'y');
    });
    expect((wrongType as Error).message).toMatch(/^WRONGTYPE/);

    for (const e of [offline, retries, timedOut, closed, viaPort])
      expect(isStoreUnavailable(e), String(e)).toBe(true);
    expect(isStoreUnavailable(wrongType)).toBe(false);
    expect(isStoreUnavailable(new TypeError("Cannot read properties of undefined (reading 'msn')"))).toBe(
      false,
    );
    expect(
      isStoreUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBe(true);
  });
});
