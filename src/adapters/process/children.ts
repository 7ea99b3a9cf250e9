/**
 * Child processes Wellspring starts (redis-server, nginx, ffmpeg) run in their own process group, so a
 * terminal's Ctrl-C reaches only our process, which then stops them in order. Whatever is still running when
 * our process exits is killed here, so nothing is left behind.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  return child;
}
