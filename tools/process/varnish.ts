/**
 * Varnish as the CDN tier in front of readers on 127.0.0.1, from deploy/varnish (the VCL docker-compose uses too).
 * Chosen over nginx for low latency: Varnish streams one origin fetch to every client waiting for the same
 * object while it fills, where nginx's cache lock makes every waiter but the first wait for the whole object.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { track } from '../../src/adapters/process/children.js';
import { guardChild } from './guard.js';
import { freePort, waitForListen } from './net.js';

export interface EmbeddedCdn {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The VCL for these readers, rendered by the repository's render-vcl.sh next to the template. */
export async function renderVcl(
  templatePath: string,
  readers: string[],
  cdn: { secret?: string; header?: string } = {},
): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'sh',
    [join(dirname(templatePath), 'render-vcl.sh'), templatePath],
    {
      env: {
        ...process.env,
        WELLSPRING_READERS: readers.join(' '),
        // The CDN shared secret Varnish sends to every reader (auth.cdn, issue #12).
        WELLSPRING_CDN_SECRET: cdn.secret ?? '',
        ...(cdn.header ? { WELLSPRING_CDN_HEADER: cdn.header } : {}),
      },
    },
  );
  return stdout;
}

export async function startVarnishCdn(
  readerPorts: number[],
  templatePath: string,
  options: {
    bin?: string;
    port?: number;
    memoryMb?: number;
    cdnSecret?: string;
    cdnHeader?: string;
    /** More `-p name=value` runtime parameters (after thread_pool_min=20, so they can override it). */
    params?: string[];
  } = {},
): Promise<EmbeddedCdn> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'wellspring-varnish-'));
  chmodSync(dir, 0o755);
  const vcl = join(dir, 'wellspring.vcl');
  writeFileSync(
    vcl,
    await renderVcl(
      templatePath,
      readerPorts.map((p) => `127.0.0.1:${p}`),
      {
        ...(options.cdnSecret ? { secret: options.cdnSecret } : {}),
        ...(options.cdnHeader ? { header: options.cdnHeader } : {}),
      },
    ),
  );
  const bin = options.bin ?? (process.getuid?.() === 0 ? '/usr/sbin/varnishd' : 'varnishd');
  const args = [
    '-F', // manager in the foreground; its worker child exits with it
    '-j',
    'none', // no privilege separation: a private instance run by the current user
    '-n',
    join(dir, 'work'),
    '-a',
    `127.0.0.1:${port}`,
    '-f',
    vcl,
    '-s',
    `malloc,${options.memoryMb ?? 256}m`,
    '-p',
    'thread_pool_min=20',
    ...(options.params ?? []).flatMap((p) => ['-p', p]),
  ];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  track(child);
  guardChild(child, [dir]); // manager, worker and work dir go with this process, even a SIGKILLed one
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  let exited: Error | undefined;
  const onExit = (code: number | null): void =>
    void (exited = new Error(`varnishd exited with ${code}: ${err.trim().slice(-2000)}`));
  child.once('exit', onExit);
  await waitForListen(port, 20_000, () => err).catch((e: Error) => {
    throw exited ?? e;
  });
  if (exited) throw exited;
  child.off('exit', onExit);
  const group = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal); // manager and worker
    } catch {
      // already gone
    }
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          group('SIGTERM');
          setTimeout(() => group('SIGKILL'), 3000).unref();
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
