import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coldEtag, mediaEtag } from '../../src/core/index.js';
import { ColdArchiver } from '../../src/store/cold/archiver.js';
import { DiskColdTier, openDiskColdTier } from '../../src/store/cold/disk/index.js';
import { openColdTier } from '../../src/store/cold/registry.js';
import { ColdTierUnavailableError } from '../../src/store/errors.js';
import { MemorySegmentArchive } from '../../src/store/memory/archive.js';

/**
 * Makes dir refuse writes with a real filesystem error: chmod 0555 (EACCES) for a normal user; as root (which
 * ignores permissions) a small tmpfs mounted there and remounted read-only (EROFS). Returns undo, or undefined
 * when neither is possible here.
 */
function readOnly(dir: string): { undo: () => void } | undefined {
  if (process.getuid?.() !== 0) {
    execFileSync('chmod', ['0555', dir]);
    return { undo: () => execFileSync('chmod', ['0755', dir]) };
  }
  return undefined;
}
function mountTmpfs(dir: string): { ro: () => void; rw: () => void; umount: () => void } | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return {
    ro: () => execFileSync('mount', ['-o', 'remount,ro', dir]),
    rw: () => execFileSync('mount', ['-o', 'remount,rw', dir]),
    umount: () => execFileSync('umount', [dir]),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cold-disk-'));
});
afterEach(async () => {
  await chmod(dir, 0o755).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('disk cold tier', () => {
  it('stores, reads whole and by range, heads, lists by prefix and deletes in bulk', async () => {
    const t = await openDiskColdTier({ dir: join(dir, 'root') });
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
    const meta = await t.put('live/s/v/seg-1.m4s', bytes, 'video/iso.segment');
    expect(meta).toMatchObject({ etag: mediaEtag('seg-1.m4s', 3000), byteLength: 3000 });
    expect(meta.etag).toBe('"bb8-seg-1.m4s"');
    await t.put('live/s/v/init-0.mp4', Buffer.from('init'), 'video/mp4');
    await t.put('live/s/a/seg-1.m4s', Buffer.from('a'), 'audio/iso.segment');
    await t.put('live/s2/v/seg-1.m4s', Buffer.from('b'), 'video/iso.segment');
    await t.put('vod/asset1/master.m3u8', Buffer.from('#EXTM3U'), 'application/vnd.apple.mpegurl');
    const got = await t.get('live/s/v/seg-1.m4s');
    expect(got!.bytes.equals(bytes)).toBe(true);
    expect(got!.meta).toMatchObject({ etag: meta.etag, byteLength: 3000, contentType: 'video/iso.segment' });
    expect((await t.get('live/s/v/seg-1.m4s', { start: 10, end: 19 }))!.bytes).toEqual(
      bytes.subarray(10, 20),
    );
    expect((await t.get('live/s/v/seg-1.m4s', { start: 2990, end: 5000 }))!.bytes).toEqual(
      bytes.subarray(2990),
    );
    expect(await t.get('live/s/v/seg-2.m4s')).toBeNull();
    expect(await t.head('live/s/v/seg-2.m4s')).toBeNull();
    expect((await t.head('vod/asset1/master.m3u8'))!.contentType).toBe('application/vnd.apple.mpegurl');
    // a temporary file left by a crash is never listed
    await writeFile(join(dir, 'root', 'live', 's', 'v', '.tmp-1-abc'), 'partial');
    expect((await t.list('live/s/', 10)).keys).toEqual([
      'live/s/a/seg-1.m4s',
      'live/s/v/init-0.mp4',
      'live/s/v/seg-1.m4s',
    ]);
    expect(await t.list('live/s/', 2)).toEqual({
      keys: ['live/s/a/seg-1.m4s', 'live/s/v/init-0.mp4'],
      more: true,
    });
    expect((await t.list('live/s/', 10, 'live/s/v/init-0.mp4')).keys).toEqual(['live/s/v/seg-1.m4s']);
    expect((await t.list('live/s', 10)).keys).toHaveLength(4); // "live/s" also matches live/s2/
    expect(await t.deleteMany(['live/s/v/seg-1.m4s', 'live/s/v/seg-9.m4s', 'live/s/a/seg-1.m4s'])).toBe(2);
    expect((await t.list('live/', 10)).keys).toEqual(['live/s/v/init-0.mp4', 'live/s2/v/seg-1.m4s']);
    // the write left no temporary files behind
    expect((await readdir(join(dir, 'root', 'live', 's2', 'v'))).filter((f) => f.startsWith('.tmp'))).toEqual(
      [],
    );
  });

  it('refuses keys that could leave its directory', async () => {
    const t = new DiskColdTier(dir);
    for (const k of ['../x', 'live/../../x', '/abs', 'a//b', 'live/s/.tmp-x', '']) {
      await expect(t.put(k, Buffer.from('x'), 'x')).rejects.toThrow(/invalid cold key/);
    }
  });

  it('the registry opens a disk tier from the config block', async () => {
    const t = await openColdTier({ type: 'disk', dir: join(dir, 'reg') });
    expect(t.kind).toBe('disk');
    expect((await t.put('live/a/b/seg-0.m4s', Buffer.from('x'), 'x')).etag).toBe(
      coldEtag('live/a/b/seg-0.m4s', 1),
    );
    await expect(openColdTier({ type: 'none' })).rejects.toThrow(/no cold tier/);
  });

  it('a read-only directory is ColdTierUnavailableError; the archiver backs off, then catches up with nothing lost', async () => {
    const root = join(dir, 'tier');
    await mkdir(root);
    let mount = undefined as ReturnType<typeof mountTmpfs>;
    let ro = readOnly(root);
    if (ro) ro.undo();
    else {
      mount = mountTmpfs(root);
      if (!mount)
        return expect
          .soft(mount, 'neither chmod nor mount can make a read-only directory here')
          .toBeDefined();
      ro = { undo: () => mount!.rw() };
    }
    try {
      const tier = await openDiskColdTier({ dir: root });
      const archive = new MemorySegmentArchive();
      const archiver = new ColdArchiver({
        tier,
        archive,
        log: pino({ level: 'silent' }),
        maxItems: 100,
        maxBytes: 1 << 20,
        concurrency: 2,
        retryBaseMs: 10,
        retryMaxMs: 50,
        maxAttempts: 3,
      });
      if (mount) mount.ro();
      else readOnly(root);
      await expect(tier.put('live/s/v/seg-0.m4s', Buffer.from('x'), 'x')).rejects.toBeInstanceOf(
        ColdTierUnavailableError,
      );
      for (let m = 0; m < 5; m++) {
        archiver.enqueueSegment(
          's',
          'v',
          {
            msn: m,
            discontinuitySeq: 0,
            discontinuity: false,
            initId: 0,
            startTicks: m,
            durationTicks: 1,
            independent: true,
            byteLength: 10,
            wallClockMs: 1000 + m,
            periodStartTicks: 0,
            periodWallClockMs: 1000,
          },
          Buffer.alloc(10, m),
        );
      }
      const t0 = Date.now();
      while (archiver.stats.outages === 0 && Date.now() - t0 < 10_000)
        await new Promise((r) => setTimeout(r, 10));
      expect(archiver.stats.outages).toBe(1);
      expect(archiver.stats.backlogItems).toBe(5);
      ro.undo();
      await archiver.idle();
      expect(archiver.stats).toMatchObject({ stored: 5, dropped: 0, failed: 0 });
      expect((await tier.list('live/s/v/', 10)).keys).toHaveLength(5);
      expect((await archive.range('s', 'v', 0, 1e9, 10)).map((r) => r.msn)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      mount?.umount();
    }
  });
});
