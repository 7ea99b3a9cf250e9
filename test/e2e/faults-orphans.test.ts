/**
 * No orphans (#13): a bench or test process that is SIGKILLed (no exit handler runs) must not leave its
 * redis-server or varnishd behind. tools/process guards each child with a watchdog that ends the child's
 * process group when its parent's pipe closes (tools/process/guard.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { waitFor } from '../support/harness.js';

/** Alive and not a zombie (a container's init may be slow to reap). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
};

let parent: ChildProcess | undefined;
let pids: number[] = [];

afterAll(() => {
  parent?.kill('SIGKILL');
  for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
});

it('a SIGKILLed parent takes its redis-server and varnishd (manager and worker) and their temp dirs with it', async () => {
  parent = spawn(process.execPath, ['--import', 'tsx', 'test/support/orphan-parent.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  parent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('\n'), 60_000, 'the parent never reported its children');
  const started = JSON.parse(out.split('\n')[0]!) as {
    redis: number;
    varnish: number;
    varnishGroup: number[];
    dirs: string[];
  };
  pids = [started.redis, started.varnish, ...started.varnishGroup];
  expect(started.varnishGroup.length).toBeGreaterThanOrEqual(2); // manager and its cache worker
  expect(pids.every(alive)).toBe(true);
  expect(started.dirs.map((d) => existsSync(d))).toEqual([true, true]);

  parent.kill('SIGKILL');
  await waitFor(() => pids.every((p) => !alive(p)), 10_000, 'the children to be gone');
  expect(pids.filter(alive)).toEqual([]);
  // ...and their private temp dirs (the parent's cleanup never ran).
  await waitFor(() => started.dirs.every((d) => !existsSync(d)), 10_000, 'the temp dirs to be removed');
});
