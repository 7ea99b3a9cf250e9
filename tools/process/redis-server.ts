import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from '../../src/adapters/process/children.js';
import { guardChild } from './guard.js';
import { freePort, waitForListen } from './net.js';

export { freePort } from './net.js';

/** An embedded redis-server child process (the demo and the tests), on a free loopback port. */
export interface EmbeddedRedis {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** A redis-server child on a loopback port, in a temp dir of its own, without persistence. */
export interface RedisProcess {
  port: number;
  pid: number;
  child: ChildProcess;
  output(): string;
  /** Ends the process (SIGTERM, SIGKILL after 5 s) and removes its dir. */
  stop(): Promise<void>;
}

/**
 * Spawns redis-server on `port` with the common no-persistence arguments plus `extraArgs`, and waits until it
 * accepts connections; a process that fails to start is stopped and its dir removed. `label` names it in errors.
 */
export async function spawnRedisServer(o: {
  port: number;
  bin?: string;
  /** A config file, passed first (redis-server wants it there; Sentinel needs one it can rewrite). */
  configFile?: string;
  extraArgs?: string[];
  label?: string;
  /** Data directory owned by the caller (kept on stop, so a restart finds its AOF); default a private temp dir. */
  dir?: string;
  /** `appendonly yes` (AOF, fsync every second) instead of no persistence. */
  appendonly?: boolean;
}): Promise<RedisProcess> {
  const label = o.label ?? 'redis-server';
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'wellspring-redis-'));
  const child: ChildProcess = spawn(
    o.bin ?? 'redis-server',
    [
      ...(o.configFile ? [o.configFile] : []),
      '--port',
      String(o.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      o.appendonly ? 'yes' : 'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
      ...(o.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  track(child);
  guardChild(child, o.dir ? [] : [dir]); // gone with this process, even a SIGKILLed one (and its private dir)
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const proc: RedisProcess = {
    port: o.port,
    pid: child.pid ?? -1,
    child,
    output: () => output.trim(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          }, 5000).unref();
        });
      }
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  let exited: Error | undefined;
  child.once('error', (err) => (exited = new Error(`${label} could not start: ${err.message}`)));
  const onExit = (code: number | null): void =>
    void (exited ??= new Error(`${label} :${o.port} exited with ${code}: ${output.trim()}`));
  child.once('exit', onExit);
  try {
    await waitForListen(o.port, 10_000, () => output.trim()).catch((err: Error) => {
      throw exited ?? err;
    });
    if (exited) throw exited;
  } catch (err) {
    await proc.stop();
    throw err;
  }
  child.off('exit', onExit);
  return proc;
}

/** Starts redis-server (without persistence unless `appendonly`) on a private port and waits until it accepts connections. */
export async function startRedisServer(
  options: { port?: number; bin?: string; dir?: string; appendonly?: boolean } = {},
): Promise<EmbeddedRedis> {
  const port = options.port ?? (await freePort());
  const p = await spawnRedisServer({
    port,
    bin: options.bin,
    dir: options.dir,
    appendonly: options.appendonly,
  });
  return { url: `redis://127.0.0.1:${port}`, port, pid: p.pid, stop: () => p.stop() };
}
