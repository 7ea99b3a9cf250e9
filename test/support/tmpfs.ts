/**
 * Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN; not in most unprivileged containers):
 * undefined when it may, else why not, for the disk-full tests to skip with. Probes with a 1 MiB tmpfs unmounted
 * at once.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tmpfsRefused(): string | undefined {
  if (process.platform !== 'linux') return `tmpfs needs Linux (here ${process.platform})`;
  const probe = mkdtempSync(join(tmpdir(), 'wellspring-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
    return `mount -t tmpfs refused here: ${why.slice(0, 160)}`;
  } finally {
    try {
      rmSync(probe, { recursive: true, force: true });
    } catch {
      // still mounted (umount failed): left in place rather than fail the collection
    }
  }
}
