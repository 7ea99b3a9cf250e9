/**
 * The reader role with `http.acceptor: "process"` (decision 024): its process only accepts connections and hands
 * them to a reader process it forks. Connections are accepted while the reader itself is stopped (with the inline
 * acceptor they would wait in the kernel's queue), answered once it runs again, and the pair stops together.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants } from '../../tools/load/observe.js';
import { freePort } from '../../tools/process/net.js';
import { type EmbeddedRedis, startRedisServer } from '../../tools/process/redis-server.js';
import { waitFor } from '../support/harness.js';

let redis: EmbeddedRedis;

beforeAll(async () => {
  redis = await startRedisServer();
}, 30_000);

afterAll(async () => {
  await redis?.stop();
});

async function startAcceptor(): Promise<{ proc: ChildProcess; port: number; reader: number }> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'workers/reader.ts'], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      HTTP_PORT: String(port),
      HTTP_ACCEPTOR: 'process',
      LOG_LEVEL: 'warn',
      WELLSPRING_CONFIG: '',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
    30_000,
    'the reader behind its acceptor answers /healthz',
  );
  const kids = descendants(proc.pid!);
  expect(kids).toHaveLength(1);
  return { proc, port, reader: kids[0]! };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The listening socket on port: its accept queue and the pid that owns it (ss). */
function listener(port: number): { queue: number; pid: number } {
  const row = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  return { queue: Number(row.split(/\s+/)[1]), pid: Number(/pid=(\d+)/.exec(row)?.[1]) };
}

describe('the reader behind an acceptor process', () => {
  it('accepts connections while the reader is stopped, answers them when it runs, and stops with it', async () => {
    const { proc, port, reader } = await startAcceptor();
    try {
      expect(listener(port).pid).toBe(proc.pid);
      process.kill(reader, 'SIGSTOP');
      const sockets: Socket[] = [];
      const answers: Array<Promise<string>> = [];
      try {
        for (let i = 0; i < 100; i++) {
          const s = connect({ host: '127.0.0.1', port });
          sockets.push(s);
          let got = '';
          s.on('data', (d: Buffer) => (got += d.toString('latin1')));
          answers.push(once(s, 'end').then(() => got));
          s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        }
        await Promise.all(sockets.map((s) => once(s, 'connect')));
        // The acceptor took every connection off the kernel's queue although the reader cannot run.
        await waitFor(async () => listener(port).queue === 0, 10_000, 'the accept queue emptied');
      } finally {
        process.kill(reader, 'SIGCONT');
      }
      const texts = await Promise.all(answers);
      expect(texts.filter((t) => t.startsWith('HTTP/1.1 200')).length).toBe(100);
      for (const s of sockets) s.destroy();

      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      await waitFor(async () => !alive(reader), 10_000, 'the reader process gone');
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      if (alive(reader)) process.kill(reader, 'SIGKILL');
    }
  }, 90_000);

  it('a reader whose acceptor is killed exits too', async () => {
    const { proc, reader } = await startAcceptor();
    try {
      proc.kill('SIGKILL');
      await waitFor(async () => !alive(reader), 10_000, 'the orphaned reader exits');
    } finally {
      if (alive(reader)) process.kill(reader, 'SIGKILL');
    }
  }, 60_000);
});
