/**
 * A parent process for test/e2e/faults-orphans: starts redis-server and varnishd through tools/process, prints
 * their pids (and varnishd's worker's) as one JSON line on stdout, then idles until it is killed.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
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
process.stdout.write(JSON.stringify({ redis: redis.pid, varnish: cdn.pid, varnishGroup: group }) + '\n');
setInterval(() => undefined, 60_000);
