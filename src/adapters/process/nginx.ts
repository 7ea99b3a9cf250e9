import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';
import { freePort, waitForListen } from './net.js';

/** The repository's CDN template, filled the way the nginx image's envsubst does. */
export function renderCdnConfig(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_]+)\}/g, (m, k: string) => vars[k] ?? m);
}

export interface EmbeddedNginx {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts nginx as a caching CDN in front of readers on 127.0.0.1, using deploy/nginx/templates. */
export async function startNginxCdn(
  readerPorts: number[],
  templatePath: string,
  options: { bin?: string; port?: number } = {},
): Promise<EmbeddedNginx> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'wellspring-nginx-'));
  const cache = join(dir, 'cache');
  mkdirSync(cache);
  mkdirSync(join(dir, 'logs'));
  chmodSync(dir, 0o755);
  chmodSync(cache, 0o777);
  const site = renderCdnConfig(readFileSync(templatePath, 'utf8'), {
    WELLSPRING_READERS: readerPorts.map((p) => `server 127.0.0.1:${p};`).join(' '),
    CDN_PORT: `127.0.0.1:${port}`,
    CDN_CACHE_DIR: cache,
  });
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'logs', 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      `  access_log off;`,
      `  client_body_temp_path ${join(dir, 'body')}; proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fcgi')}; uwsgi_temp_path ${join(dir, 'uwsgi')}; scgi_temp_path ${join(dir, 'scgi')};`,
      `  include ${join(dir, 'site.conf')};`,
      '}',
    ].join('\n'),
  );
  const bin = options.bin ?? (process.getuid?.() === 0 ? '/usr/sbin/nginx' : 'nginx');
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  track(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  let exited: Error | undefined;
  const onExit = (code: number | null): void =>
    void (exited = new Error(`nginx exited with ${code}: ${err}`));
  child.once('exit', onExit);
  await waitForListen(port, 10_000, () => err).catch((e: Error) => {
    throw exited ?? e;
  });
  if (exited) throw exited;
  child.off('exit', onExit);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGQUIT');
          setTimeout(() => child.kill('SIGKILL'), 3000).unref();
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
