/**
 * The from-disk reference of the benchmarks and the load generator that measures it: nginx serving given files
 * from a temp directory (sendfile), and wrk run against a URL with the server's CPU time per request from /proc.
 * Shared by bench:origin (newest segment and live playlist vs nginx) and bench:cold (a cold-tier segment vs
 * nginx), so both compare against the same server configured the same way.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { track } from '../../src/adapters/process/children.js';
import { treeCpuSeconds } from '../../tools/load/observe.js';
import { freePort } from '../../tools/process/net.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Installs wrk when it is missing (apt-get, with sudo when not root). */
export function ensureWrk(): void {
  execFileSync('bash', [
    '-c',
    'command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || sudo apt-get install -y -qq wrk >/dev/null)',
  ]);
}

export interface WrkResult {
  requestsPerSec: number;
  /** user+system CPU of the server's process tree over the run / requests, µs (NaN without a pid). */
  cpuUsPerRequest: number;
  cpuCores: number;
  mbPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
}

/**
 * wrk -t1 -cCONNECTIONS -dSECONDS --latency against url, in its own process (async: the calling process may host
 * the server under test). With pid, the CPU that process and its descendants used over the run (nginx's master
 * forks the worker that serves).
 */
export async function wrk(
  url: string,
  o: { seconds: number; pid?: number; connections?: number },
): Promise<WrkResult> {
  const cpu0 = o.pid ? treeCpuSeconds(o.pid) : NaN;
  const { stdout: out } = await run(
    'wrk',
    ['-t1', `-c${o.connections ?? 32}`, `-d${o.seconds}s`, '--latency', url],
    { encoding: 'utf8' },
  );
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const ms = (s: string | undefined): number =>
    !s
      ? NaN
      : s.endsWith('us')
        ? Number.parseFloat(s) / 1000
        : s.endsWith('ms')
          ? Number.parseFloat(s)
          : Number.parseFloat(s) * 1000;
  const lat = (p: string): number => ms(new RegExp(`\\s${p}%\\s+([\\d.]+\\w+)`).exec(out)?.[1]);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const mb = transfer
    ? Number(transfer[1]) * ({ B: 1e-6, KB: 1e-3, MB: 1, GB: 1e3 }[transfer[2]!] ?? 1)
    : NaN;
  const requestsPerSec = num(/Requests\/sec:\s+([\d.]+)/);
  const cpu = o.pid ? treeCpuSeconds(o.pid) - cpu0 : NaN;
  return {
    requestsPerSec,
    cpuUsPerRequest: Math.round((cpu / (requestsPerSec * o.seconds)) * 1e7) / 10,
    cpuCores: Math.round((cpu / o.seconds) * 100) / 100,
    mbPerSec: Math.round(mb * 10) / 10,
    p50Ms: lat('50'),
    p90Ms: lat('90'),
    p99Ms: lat('99'),
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0,
  };
}

/** requests/s of a over b, two decimals. */
export function throughputRatio(
  a: Pick<WrkResult, 'requestsPerSec'>,
  b: Pick<WrkResult, 'requestsPerSec'>,
): number {
  return Math.round((a.requestsPerSec / b.requestsPerSec) * 100) / 100;
}

export interface NginxReference {
  port: number;
  /** http://127.0.0.1:PORT */
  base: string;
  process: ChildProcess;
  pid: number;
  /** Stops nginx and removes its directory (files, config, logs). */
  stop(): Promise<void>;
}

/** Where the reference's nginx is (Debian's nginx-light, installed by scripts/setup.sh). */
const NGINX = '/usr/sbin/nginx';

/**
 * nginx (one worker, sendfile, no access log) serving `files` (name -> bytes) from a new directory under the temp
 * dir, on a free loopback port; resolves once it answers.
 */
export async function startNginxReference(files: Record<string, Buffer | string>): Promise<NginxReference> {
  const www = mkdtempSync(join(os.tmpdir(), 'ws-bench-www-'));
  chmodSync(www, 0o755); // nginx workers run as nobody
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(www, name), bytes);
  const port = await freePort();
  writeFileSync(
    join(www, 'nginx.conf'),
    `worker_processes 1; pid ${www}/nginx.pid; error_log ${www}/error.log; events { worker_connections 1024; }
http { access_log off; sendfile on; types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; }
  server { listen 127.0.0.1:${port}; root ${www}; } }`,
  );
  const proc = track(
    spawn(NGINX, ['-p', www, '-c', join(www, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: 'ignore',
      detached: true,
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const probe = Object.keys(files)[0];
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    const ok = await fetch(`${base}/${probe ?? ''}`)
      .then((r) => r.arrayBuffer().then(() => r.status < 500))
      .catch(() => false);
    if (ok) break;
    await sleep(50);
  }
  if (proc.exitCode !== null) {
    rmSync(www, { recursive: true, force: true });
    throw new Error(`nginx exited with ${proc.exitCode} (${NGINX} -p ${www})`);
  }
  return {
    port,
    base,
    process: proc,
    pid: proc.pid!,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGQUIT');
        await Promise.race([exited, sleep(3000)]);
      }
      rmSync(www, { recursive: true, force: true });
    },
  };
}
