/**
 * The operations event log on a real redis-server (the run's own) and the memory adapter: ids increase, the
 * history is read by id, followers hear appends in order; the webhook queue delivers every event once, signed,
 * to a receiver that refuses connections at first.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import pino from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { compareEventIds } from '../../src/api/sse.js';
import { startWebhooks } from '../../src/queue/webhooks.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import type { EventLog, LoggedEvent } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { freePort } from '../../tools/process/net.js';
import { waitFor } from '../support/harness.js';

const target = () => ({ kind: 'standalone' as const, url: inject('redisUrl') });

async function exercise(log: EventLog): Promise<void> {
  const heard: LoggedEvent[] = [];
  const sub = log.follow((ev) => heard.push(ev));
  await sub.ready;
  const ids: string[] = [];
  for (let i = 0; i < 5; i++)
    ids.push(await log.append({ type: 'stream.live', stream: 'cam', at: Date.now(), data: { i } }));
  for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i]!, ids[i - 1]!)).toBeGreaterThan(0);
  expect((await log.after(ids[1], 100)).map((e) => e.id)).toEqual(ids.slice(2));
  expect((await log.after(undefined, 2)).map((e) => e.data?.i)).toEqual([3, 4]);
  await waitFor(() => heard.length === 5, 5000, 'followers hear every append');
  expect(heard.map((e) => e.id)).toEqual(ids);
  sub.close();
}

describe('EventLog', () => {
  it('on Redis: ids increase, read after an id, followers hear appends in order', async () => {
    const st = createRedisStore({
      target: target(),
      prefix: `t${randomBytes(4).toString('hex')}`,
      role: 'command',
    });
    try {
      await exercise(st.eventLog);
    } finally {
      await st.close();
    }
  });

  it('in memory: the same', async () => {
    await exercise(new MemoryStore().eventLog);
  });

  it('on Redis: keeps a bounded history', async () => {
    const st = createRedisStore({
      target: target(),
      prefix: `t${randomBytes(4).toString('hex')}`,
      role: 'command',
      eventHistory: 100,
    });
    try {
      for (let i = 0; i < 1000; i++) await st.eventLog.append({ type: 'stream.live', at: i });
      const kept = await st.eventLog.after('0-0', 10_000);
      expect(kept.length).toBeGreaterThanOrEqual(100);
      expect(kept.length).toBeLessThan(400);
      expect(kept.at(-1)!.at).toBe(999);
    } finally {
      await st.close();
    }
  });
});

describe('webhooks', () => {
  it('deliver every event once, signed, to a receiver that is down and then up', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const st = createRedisStore({ target: target(), prefix, role: 'command' });
    const port = await freePort();
    const secret = 'unit-hook-secret-0123456789';
    const got: Array<{ id: string; ok: boolean }> = [];
    const hooks = startWebhooks({
      target: target(),
      prefix,
      eventLog: st.eventLog,
      webhooks: [{ url: `http://127.0.0.1:${port}/h`, secret }],
      attempts: 50,
      timeoutMs: 2000,
      maxBackoffMs: 1000,
      log: pino({ level: 'silent' }),
    });
    let server: Server | undefined;
    try {
      await hooks.ready;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(await st.eventLog.append({ type: 'publisher.connected', stream: 'cam', at: Date.now() }));
      await new Promise((r) => setTimeout(r, 1500)); // several refused attempts
      expect(got).toEqual([]);
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          const m = /^t=(\d+),sha256=([0-9a-f]{64})$/.exec(String(req.headers['x-wellspring-signature']));
          const mac = m ? createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex') : '';
          got.push({
            id: String(req.headers['x-wellspring-event-id']),
            ok:
              mac === m?.[2] && (JSON.parse(body) as LoggedEvent).id === req.headers['x-wellspring-event-id'],
          });
          res.end();
        });
      });
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
      await waitFor(() => ids.every((id) => got.some((g) => g.id === id)), 15_000, 'all delivered');
      await new Promise((r) => setTimeout(r, 500));
      expect(got.map((g) => g.id).sort()).toEqual([...ids].sort());
      expect(got.every((g) => g.ok)).toBe(true);
    } finally {
      await hooks.close();
      await st.close();
      server?.closeAllConnections();
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
    }
  }, 30_000);
});
