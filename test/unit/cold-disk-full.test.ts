/**
 * The disk cold tier on a filesystem that fills (issue #11, "a disk that fills"): a 1 MiB tmpfs mounted by the
 * test (skipped, saying why, where this process may not mount one). A full disk is ColdTierUnavailableError
 * naming ENOSPC, leaves no partial or temporary file, and loses nothing stored before; the archiver counts every
 * failed attempt by errno (wellspring_cold_write_errors_total), logs the outage once, and catches up once space
 * is freed.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ColdArchiver } from '../../src/store/cold/archiver.js';
import { DiskColdTier } from '../../src/store/cold/disk/index.js';
import { ColdTierUnavailableError } from '../../src/store/errors.js';
import { tmpfsRefused } from '../support/tmpfs.js';

const REFUSED = tmpfsRefused();

let mnt: string | undefined;
let mounted = false;
afterAll(() => {
  if (mounted) execFileSync('umount', [mnt!], { stdio: 'pipe' });
  if (mnt) rmSync(mnt, { recursive: true, force: true });
});

/** Appends zeros until the filesystem refuses (ENOSPC): 64 KiB, then 512-byte writes. */
function fillUp(fd: number): void {
  for (const size of [65536, 512]) {
    const chunk = Buffer.alloc(size);
    for (;;) {
      try {
        if (writeSync(fd, chunk) < size) break;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}

const tmpFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) =>
    p.split('/').pop()!.startsWith('.tmp-'),
  );

describe(`disk cold tier on a full filesystem${REFUSED ? ` (skipped: ${REFUSED})` : ''}`, () => {
  it.skipIf(REFUSED !== undefined)(
    'ENOSPC is ColdTierUnavailableError, counted by errno, logged once; nothing stored is lost; caught up once freed',
    async () => {
      mnt = mkdtempSync(join(tmpdir(), 'wellspring-cold-full-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
      mounted = true;
      const tier = new DiskColdTier(join(mnt, 'cold'));
      const kept = Buffer.alloc(100_000, 7);
      await tier.put('live/s/v/seg-1.m4s', kept, 'video/iso.segment');

      const fd = openSync(join(mnt, 'filler'), 'w');
      fillUp(fd);
      const err = await tier.put('live/s/v/seg-2.m4s', Buffer.alloc(50_000, 8), 'video/iso.segment').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ColdTierUnavailableError);
      expect(String((err as Error).message)).toContain('ENOSPC');
      expect(tmpFiles(mnt)).toEqual([]);
      expect(await tier.head('live/s/v/seg-2.m4s')).toBeNull();
      expect((await tier.get('live/s/v/seg-1.m4s'))!.bytes.equals(kept)).toBe(true);

      // The archiver: each failed attempt counted with its errno, one log line for the outage.
      const registry = new Registry();
      const errors = new Counter({
        name: 'wellspring_cold_write_errors_total',
        help: 'test',
        labelNames: ['reason', 'code'],
        registers: [registry],
      });
      const lines: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write(chunk, _e, cb) {
          for (const l of String(chunk).split('\n'))
            if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      });
      const archiver = new ColdArchiver({
        tier,
        log: pino({ level: 'debug' }, sink),
        maxItems: 100,
        maxBytes: 1 << 22,
        concurrency: 2,
        retryBaseMs: 5,
        retryMaxMs: 20,
        maxAttempts: 3,
        metrics: { writeErrors: errors },
      });
      archiver.enqueueInit('s', 'v', 0, Buffer.alloc(30_000, 9));
      const count = async (): Promise<number> =>
        (await errors.get()).values.find(
          (v) => v.labels.code === 'ENOSPC' && v.labels.reason === 'unavailable',
        )?.value ?? 0;
      const end = Date.now() + 10_000;
      while ((await count()) < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(await count()).toBeGreaterThanOrEqual(3);
      expect(archiver.stats.backlogItems).toBe(1);
      expect(lines.filter((l) => String(l.msg).includes('unreachable')).length).toBe(1);

      // Space freed: the write goes through, one line says so, nothing left behind.
      closeSync(fd);
      unlinkSync(join(mnt, 'filler'));
      await archiver.idle();
      expect((await tier.get('live/s/v/init-0.mp4'))!.bytes.equals(Buffer.alloc(30_000, 9))).toBe(true);
      expect(lines.filter((l) => String(l.msg).includes('reachable again')).length).toBe(1);
      expect(tmpFiles(mnt)).toEqual([]);
      expect((await tier.get('live/s/v/seg-1.m4s'))!.bytes.equals(kept)).toBe(true);
      await archiver.close();
    },
  );
});
