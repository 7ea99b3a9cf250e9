/**
 * A child that dies with its parent, even when the parent is SIGKILLed (no `exit` handler runs then).
 *
 * Linux has no portable "kill me when my parent dies" for a child spawned from Node (prctl PR_SET_PDEATHSIG is
 * not reachable), so each guarded child gets a watchdog: a tiny `sh` holding the read end of a pipe whose only
 * write end is in this process. When this process dies for any reason the kernel closes that end, `cat` sees EOF,
 * and the watchdog SIGKILLs the child's whole process group (the child must be spawned `detached`, so its pid is
 * its group id; varnishd's worker and a node worker's ffmpeg sit in that group too). When the child exits first
 * the watchdog is killed instead, so it never signals a group id that might be reused.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/**
 * Guards `child` (spawned with `detached: true`); returns it. `dirs` (the child's private temp dirs) are removed
 * too when the parent dies, since the parent's own cleanup never runs then.
 */
export function guardChild(child: ChildProcess, dirs: string[] = []): ChildProcess {
  const pgid = child.pid;
  if (pgid === undefined || child.exitCode !== null || child.signalCode !== null) return child;
  const dog = spawn(
    'sh',
    [
      '-c',
      `cat >/dev/null 2>&1; kill -s KILL -- -${pgid} 2>/dev/null; kill -s KILL ${pgid} 2>/dev/null; ` +
        // the dirs are "$@"; give the killed processes a moment to let go of their files
        `[ $# -gt 0 ] && sleep 1 && rm -rf -- "$@"`,
      'guard',
      ...dirs,
    ],
    { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
  );
  dog.on('error', () => undefined);
  dog.stdin?.on('error', () => undefined);
  // Neither the watchdog nor its pipe may keep this process's event loop alive.
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.once('exit', () => {
    try {
      dog.kill('SIGKILL');
    } catch {
      // already gone
    }
  });
  return child;
}
