/**
 * Command deadlines (src/store/redis/deadline.ts) against real redis-servers: a stall of this process past the
 * reader's 1 s deadline must not turn a healthy Redis's answer into "Command timed out" (a 503 STORE_UNAVAILABLE
 * the store did not cause), while a frozen Redis is still reported in about the deadline, stalls or not. On a
 * standalone server and on a 3-master Cluster (single commands and pipelines).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, redisTarget } from '../../src/config.js';
import { type Client, connect } from '../../src/store/redis/connection.js';
import { isStoreUnavailable } from '../../src/store/errors.js';
import { type EmbeddedRedis, startRedisServer } from '../../tools/process/redis-server.js';

/** Keeps this process busy, as a long garbage collection or a starved CPU does. */
const stall = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

const clients: Client[] = [];

/** A reader connection, once ready (the reader role has no offline queue: commands before that fail at once). */
async function readerClient(target: Parameters<typeof connect>[0]): Promise<Client> {
  const c = connect(target, 'reader');
  clients.push(c);
  if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
  return c;
}
let frozen: EmbeddedRedis | undefined;

afterAll(async () => {
  for (const c of clients) c.disconnect();
  if (frozen) {
    try {
      process.kill(frozen.pid, 'SIGCONT');
    } catch {
      // gone
    }
    await frozen.stop();
  }
});

const targets = [
  { name: 'standalone', config: () => parseConfig({ redisUrl: inject('redisUrl') }) },
  {
    name: '3-master Cluster',
    config: () => parseConfig({ redis: { cluster: { nodes: inject('redisClusterNodes').split(',') } } }),
  },
];

describe.each(targets)('reader command deadlines ($name)', ({ config }) => {
  it('a stall of this process past the deadline does not fail answers Redis already gave', async () => {
    const c = await readerClient(redisTarget(config()));
    await c.set('{deadline}:k', 'v');
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const one = c.get('{deadline}:k');
      const piped = c.pipeline().get('{deadline}:k').pttl('{deadline}:k').exec();
      stall(1300);
      outcomes.push(
        await Promise.all([one, piped]).then(
          ([v, p]) => `${v} ${p?.map(([e]) => e?.message ?? 'ok').join(',')}`,
          (e: Error) => e.message,
        ),
      );
    }
    expect(outcomes).toEqual(Array(5).fill('v ok,ok'));
  });

  it('a stall with more replies waiting than the socket buffers hold does not fail the commands behind them', async () => {
    const c = await readerClient(redisTarget(config()));
    // 48 MB of replies asked for: more than the kernel's buffers on both ends hold while this process stalls,
    // so the rest comes only as this process reads (measured: the last commands failed with one poll phase).
    await c.set('{deadline}:big', Buffer.alloc(1024 * 1024, 7));
    await c.set('{deadline}:k', 'v');
    const bigs = Array.from({ length: 48 }, () => c.getBuffer('{deadline}:big'));
    const last = c.get('{deadline}:k');
    stall(1300);
    const settled = await Promise.allSettled([...bigs, last]);
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    expect(failed).toEqual([]);
    expect(await last).toBe('v');
    await c.del('{deadline}:big');
  });
});

describe('reader command deadlines (frozen Redis)', () => {
  it('a frozen Redis fails a command in about the deadline, also while the process stalls', async () => {
    frozen = await startRedisServer();
    const c = await readerClient({ kind: 'standalone', url: frozen.url });
    await c.set('k', 'v');
    process.kill(frozen.pid, 'SIGSTOP');

    /** Sends GET, stalls this process as told (the event loop turning between stalls); when the GET failed. */
    const timed = async (stalls: number[]): Promise<{ ms: number; err: unknown }> => {
      const t0 = performance.now();
      let ms = Number.NaN;
      const p = c.get('k').then(
        () => undefined,
        (e: unknown) => {
          ms = performance.now() - t0;
          return e;
        },
      );
      for (const s of stalls) {
        stall(s);
        // A turn of the event loop between stalls (timers, poll, check).
        await new Promise((r) => setTimeout(r, 20));
      }
      const err = await p;
      return { ms, err };
    };

    const quiet = await timed([]);
    expect(isStoreUnavailable(quiet.err), String(quiet.err)).toBe(true);
    expect((quiet.err as Error).message).toBe('Command timed out');
    expect(quiet.ms).toBeGreaterThanOrEqual(990);
    expect(quiet.ms).toBeLessThan(1500);

    // Stalls of 1.3 s, again and again: failed when the process first runs after the deadline (the end of the
    // first stall), not later.
    const stalled = await timed([1300, 1300, 1300]);
    expect(isStoreUnavailable(stalled.err), String(stalled.err)).toBe(true);
    expect(stalled.ms).toBeGreaterThanOrEqual(990);
    expect(stalled.ms).toBeLessThan(1300 + 300);
    process.kill(frozen.pid, 'SIGCONT');
  });

  it('replies that stop coming end the wait: a Redis frozen mid-answer fails the rest soon after the deadline', async () => {
    const redis = frozen!;
    const c = await readerClient({ kind: 'standalone', url: redis.url });
    await c.set('big', Buffer.alloc(1024 * 1024, 7));
    const t0 = performance.now();
    const failedAt: number[] = [];
    const gets = Array.from({ length: 48 }, () =>
      c.getBuffer('big').then(
        () => 'ok',
        (e: Error) => (failedAt.push(performance.now() - t0), e.message),
      ),
    );
    await gets[0]; // Redis is answering
    process.kill(redis.pid, 'SIGSTOP');
    stall(1300); // replies already in the kernel's buffers are read after this
    const outcomes = await Promise.all(gets);
    process.kill(redis.pid, 'SIGCONT');
    expect(outcomes[0]).toBe('ok');
    expect(outcomes.at(-1)).toBe('Command timed out');
    // The wait on ends once no byte came for a pause, well before a second deadline.
    expect(Math.max(...failedAt)).toBeLessThan(1300 + 500);
  });
});
