/**
 * A parent process for test/e2e/faults-orphans: starts redis-server and varnishd through tools/process, prints
 * their pids (and varnishd's worker's) as one JSON line on stdout, then idles until it is killed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { freePort } from '../../tools/process/net.js';
import { startRedisServer } from '../../tools/process/redis-server.js';
import { startVarnishCdn } from '../../tools/process/varnish.js';

const template = join(
  fileURLToPath(new URL('../../', import.meta.url)),
  'deploy/varnish/wellspring.vcl.template',
);
const redis = await startRedisServer();
const cdn = await startVarnishCdn([await freePort()], template);
// varnishd -F forks its cache worker: it must go too.
const group = execFileSync('pgrep', ['-g', String(cdn.pid)], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean)
  .map(Number);
// Their private dirs (redis-server's --dir, varnishd's -n's parent) must go too.
const dirOf = (pid: number, flag: string): string => {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return args[args.indexOf(flag) + 1]!;
};
// redis-server rewrites its title but works in its --dir.
const dirs = [readlinkSync(`/proc/${redis.pid}/cwd`), dirname(dirOf(cdn.pid, '-n'))];
process.stdout.write(
  JSON.stringify({ redis: redis.pid, varnish: cdn.pid, varnishGroup: group, dirs }) + '\n',
);
setInterval(() => undefined, 60_000);
