import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from '../../src/adapters/process/children.js';
import { freePort, waitForListen } from './net.js';

export { freePort } from './net.js';

/** An embedded redis-server child process (the demo and the tests), on a free loopback port. */
export interface EmbeddedRedis {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts redis-server without persistence on a private port and waits until it accepts connections. */
export async function startRedisServer(
  options: { port?: number; bin?: string } = {},
): Promise<EmbeddedRedis> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'wellspring-redis-'));
  const child: ChildProcess = spawn(
    options.bin ?? 'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  track(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited: Error | undefined;
  child.once('error', (err) => (exited = new Error(`redis-server could not start: ${err.message}`)));
  const onExit = (code: number | null): void =>
    void (exited ??= new Error(`redis-server exited with ${code}: ${output.trim()}`));
  child.once('exit', onExit);
  await waitForListen(port, 10_000, () => output.trim()).catch((err: Error) => {
    throw exited ?? err;
  });
  if (exited) throw exited;
  child.off('exit', onExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
