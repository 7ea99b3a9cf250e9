/**
 * Issue #11 / #13: the cold tier unavailable mid-stream. The live path never waits on it: a player-like viewer
 * through Varnish sees no error and no stall over 1 s beyond the baseline; the archiver's backlog shows in
 * /metrics while the tier is away and drains once it is back, with every segment archived (nothing lost within
 * the bound); past the bound the oldest writes are dropped, counted in /metrics and logged.
 * (a) S3: the S3-API server (s3rver child process) killed and restarted on the same port.
 * (b) disk: the tier's directory replaced by a plain file (ENOTDIR): tests run as root here, and root ignores
 *     a chmod to read-only, so the directory is taken away instead, then put back.
 * (c) disk full: the tier lives on a small tmpfs (mounted by the test where this process may mount one, else that
 *     test is skipped and says why) that a filler file fills to the last byte: ENOSPC is counted in /metrics
 *     (wellspring_cold_write_errors_total{code="ENOSPC"}) and logged once, the backlog rises past its bound and
 *     the oldest writes are dropped, live playback is unaffected, nothing archived before is lost or changed, and
 *     once the filler is deleted the archiver catches up with the live edge.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdirSync, readFileSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openColdTier } from '../../src/store/cold/registry.js';
import type { ColdTierSettings } from '../../src/store/cold/types.js';
import { type S3Server, s3ColdSettings, startS3Server } from '../../tools/process/s3-server.js';
import type { EmbeddedCdn } from '../../tools/process/varnish.js';
import { summary } from '../../tools/viewer/viewer.js';
import type { NodeHandle } from '../../workers/compose.js';
import {
  captureLogger,
  type Encoder,
  rtmpEncoder,
  sleep,
  TEST_LADDER,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { startCdnNode, viewThroughFault } from '../support/outage.js';
import { get } from '../support/player.js';
import { tmpfsRefused } from '../support/tmpfs.js';

const STREAM = 'coldcam';
const KEY = 'cold-outage-publish-key';
const RENDITION = TEST_LADDER[0]!.name;
const playlistPath = `/live/${STREAM}/${RENDITION}/index.m3u8`;
/** Items the archiver may queue: ~3 writes/s here (two renditions + audio, 1 s segments). */
const MAX_ITEMS = 40;

const cleanups: Array<() => Promise<void>> = [];
async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}
afterAll(cleanUp);

interface Rig {
  node: NodeHandle;
  cdn: EmbeddedCdn;
  lines: Array<Record<string, unknown>>;
  origin: string;
}

async function rig(cold: Record<string, unknown>): Promise<Rig> {
  const { log, lines } = captureLogger();
  const config = testConfig({
    streams: [{ name: STREAM, key: KEY, ingest: { type: 'rtmp' } }],
    cold: { ...cold, queue: { maxItems: MAX_ITEMS, retryBaseMs: 100, retryMaxMs: 500 } },
  });
  const { node, cdn, origin, stop } = await startCdnNode(config, log);
  cleanups.push(stop);
  const enc: Encoder = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${KEY}`, 150);
  cleanups.push(async () => void (await enc.stop()));
  await waitFor(async () => (await get(`${cdn.url}${playlistPath}`)).status === 200, 40_000, 'live via CDN');
  return { node, cdn, lines, origin };
}

/** One sample of a metric (summed over its labels when `labels` is not given) from the reader's /metrics. */
async function metric(origin: string, name: string, labels = ''): Promise<number> {
  return valueIn((await get(`${origin}/metrics`)).body.toString(), name, labels);
}

/** One metric's sample in a /metrics text (summed over its labels when `labels` is not given). */
function valueIn(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) {
    if (!labels || (m[1] ?? '').includes(labels)) sum += Number(m[2]);
  }
  return sum;
}

/** The msns of the archived segments of one rendition in the cold tier, ascending. */
async function archivedMsns(settings: ColdTierSettings): Promise<number[]> {
  const tier = await openColdTier(settings);
  try {
    const out: number[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await tier.list(`live/${STREAM}/${RENDITION}/`, 1000, after);
      for (const k of page.keys) {
        const m = /seg-(\d+)\.m4s$/.exec(k);
        if (m) out.push(Number(m[1]));
      }
      if (!page.more) break;
      after = page.keys.at(-1);
    }
    return out.sort((a, b) => a - b);
  } finally {
    await tier.close();
  }
}

const TMPFS_REFUSED = tmpfsRefused();
if (TMPFS_REFUSED) console.warn(`cold-outage: the disk-full test is skipped: ${TMPFS_REFUSED}`);

/** Unmounts the tmpfs this file mounted at `path` (lazily if something still holds it). */
function unmount(path: string): void {
  try {
    execFileSync('umount', [path], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', path], { stdio: 'pipe' });
  }
}

const ZEROS = [Buffer.alloc(1 << 20), Buffer.alloc(4096), Buffer.alloc(512)];

/**
 * Appends zeros to `fh` until its filesystem refuses (ENOSPC): 1 MiB, then 4 KiB, then 512-byte writes. Async
 * by default (the node under test shares this event loop); `sync` for the top-ups of a full disk (a few
 * refused syscalls).
 */
async function fillUp(fh: FileHandle, sync = false): Promise<void> {
  for (const chunk of ZEROS) {
    for (;;) {
      try {
        const n = sync ? writeSync(fh.fd, chunk) : (await fh.write(chunk)).bytesWritten;
        if (n < chunk.length) break;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}

const isTmp = (path: string): boolean => path.split('/').pop()!.startsWith('.tmp-');

/** Paths (relative to `root`) of every file under it, the disk tier's temporary files included. */
function files(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? files(root, p) : [p];
  });
}

/** sha256 of every stored object under `root` (temporary files skipped: they come and go). */
function hashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of files(root).filter((f) => !isTmp(f))) {
    out.set(
      p,
      createHash('sha256')
        .update(readFileSync(join(root, p)))
        .digest('hex'),
    );
  }
  return out;
}

const newestMsn = (playlist: string): number =>
  Math.max(...[...playlist.matchAll(/seg-(\d+)\.m4s/g)].map((m) => Number(m[1])));

const gaps = (msns: number[]): number[] => msns.filter((n, i) => i > 0 && n !== msns[i - 1]! + 1);

/**
 * Takes the tier away for `outageMs` under a viewer, then back; returns what the viewer and /metrics showed.
 */
async function outage(
  r: Rig,
  down: () => Promise<void>,
  up: () => Promise<void>,
  outageMs: number,
): Promise<{ peakBacklog: number; dropped: number }> {
  let droppedBefore = 0;
  let peakBacklog = 0;
  const run = await viewThroughFault(
    `${r.cdn.url}${playlistPath}`,
    { baselineMs: 4000, label: 'cold tier down' },
    async (v) => {
      droppedBefore = await metric(r.origin, 'wellspring_cold_writes_total', 'result="dropped"');
      await down();
      const until = Date.now() + outageMs;
      while (Date.now() < until) {
        peakBacklog = Math.max(peakBacklog, await metric(r.origin, 'wellspring_cold_backlog_items'));
        await sleep(250);
      }
      v.mark('cold tier back');
      await up();
      await waitFor(
        async () => (await metric(r.origin, 'wellspring_cold_backlog_items')) === 0,
        60_000,
        'the cold backlog drained',
      );
    },
  );
  console.log(
    `cold outage ${outageMs} ms: peak backlog ${peakBacklog} items, baseline stall ${run.baselineMs} ms; viewer:`,
    JSON.stringify(summary(run.report)),
  );
  expect(run.violations).toEqual([]);
  const dropped =
    (await metric(r.origin, 'wellspring_cold_writes_total', 'result="dropped"')) - droppedBefore;
  return { peakBacklog, dropped };
}

describe('S3 cold tier stopped mid-stream', () => {
  // One pipeline at a time on a 2-core machine.
  afterAll(cleanUp);
  let s3: S3Server;
  let r: Rig;
  let settings: ColdTierSettings;

  it('within the bound: live unaffected, backlog in /metrics, drained after the restart, every segment archived', async () => {
    s3 = await startS3Server();
    cleanups.push(() => s3.close());
    settings = { type: 's3', ...s3ColdSettings(s3) };
    const { type: _t, ...s3Settings } = settings;
    r = await rig({ type: 's3', s3: s3Settings });
    const { peakBacklog, dropped } = await outage(
      r,
      () => s3.stop(),
      () => s3.start(),
      5000,
    );
    expect(peakBacklog).toBeGreaterThan(3);
    expect(peakBacklog).toBeLessThan(MAX_ITEMS);
    expect(dropped).toBe(0);
    const msns = await archivedMsns(settings);
    console.log(`S3: ${msns.length} segments archived, ${msns[0]}..${msns.at(-1)}`);
    expect(msns.length).toBeGreaterThan(8);
    expect(gaps(msns)).toEqual([]);
  });

  it('past the bound: the oldest writes are dropped, counted in /metrics and logged; live unaffected', async () => {
    const from = r.lines.length;
    const { peakBacklog, dropped } = await outage(
      r,
      () => s3.stop(),
      () => s3.start(),
      18_000,
    );
    expect(peakBacklog).toBeLessThanOrEqual(MAX_ITEMS);
    expect(dropped).toBeGreaterThan(0);
    expect(r.lines.slice(from).some((l) => String(l.msg).includes('backlog full'))).toBe(true);
    const msns = await archivedMsns(settings);
    console.log(
      `S3 past the bound: ${dropped} writes dropped; archived msn gaps at ${JSON.stringify(gaps(msns))}`,
    );
    expect(gaps(msns).length).toBeGreaterThan(0);
  });
});

describe('disk cold tier taken away mid-stream, then full', () => {
  /** One pipeline for both tests: the tier's root `dir` on the filesystem mounted at `mnt`. */
  let disk: (Rig & { dir: string; mnt: string }) | undefined;

  it('live unaffected, backlog in /metrics, drained once the directory is back, every segment archived', async () => {
    const base = mkdtempSync(join(tmpdir(), 'wellspring-cold-outage-'));
    cleanups.push(async () => rmSync(base, { recursive: true, force: true }));
    // A 32 MiB tmpfs where this process may mount one (the disk-full test fills it); else a plain directory.
    const mnt = join(base, 'fs');
    mkdirSync(mnt);
    if (!TMPFS_REFUSED) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt], { stdio: 'pipe' });
      cleanups.push(async () => unmount(mnt));
    }
    const dir = join(mnt, 'cold');
    mkdirSync(dir);
    // keep: the sweeper never deletes what the tests compare before and after
    const r = await rig({ type: 'disk', dir, keep: [STREAM] });
    disk = { ...r, dir, mnt };
    const aside = join(mnt, 'aside');
    const { peakBacklog, dropped } = await outage(
      r,
      async () => {
        renameSync(dir, aside);
        writeFileSync(dir, 'not a directory');
      },
      async () => {
        rmSync(dir);
        renameSync(aside, dir);
      },
      5000,
    );
    expect(peakBacklog).toBeGreaterThan(3);
    expect(dropped).toBe(0);
    const msns = await archivedMsns({ type: 'disk', dir });
    console.log(`disk: ${msns.length} segments archived, ${msns[0]}..${msns.at(-1)}`);
    expect(msns.length).toBeGreaterThan(8);
    expect(gaps(msns)).toEqual([]);
  });

  it.skipIf(TMPFS_REFUSED !== undefined)(
    `a disk that fills: ENOSPC counted and logged once, live unaffected, nothing archived lost, caught up once space is freed${TMPFS_REFUSED ? ` (skipped: ${TMPFS_REFUSED})` : ''}`,
    async () => {
      const d = disk!;
      const before = hashes(d.dir);
      expect(before.size).toBeGreaterThan(8);
      const from = d.lines.length;
      const enospc = (): Promise<number> =>
        metric(d.origin, 'wellspring_cold_write_errors_total', 'code="ENOSPC"');
      const dropped = (): Promise<number> =>
        metric(d.origin, 'wellspring_cold_writes_total', 'result="dropped"');
      const errorsBefore = await enospc();
      const droppedBefore = await dropped();
      const filler = join(d.mnt, 'filler');
      let peakBacklog = 0;
      let fullMs = 0;
      let freeAtFull = -1;
      let newestAtFree = 0;
      const run = await viewThroughFault(
        `${d.cdn.url}${playlistPath}`,
        { baselineMs: 4000, label: 'cold tier full' },
        async (v) => {
          const fh = await open(filler, 'w');
          const fullAt = Date.now();
          let topUp: NodeJS.Timeout | undefined;
          try {
            await fillUp(fh);
            // A write in flight when it filled gives its temporary file's space back: keep it full until freed.
            topUp = setInterval(() => void fillUp(fh, true), 20);
            freeAtFull = statfsSync(d.mnt).bavail;
            await waitFor(
              async () => {
                // One /metrics read per 250 ms: the reader under test shares this process.
                const text = (await get(`${d.origin}/metrics`)).body.toString();
                peakBacklog = Math.max(peakBacklog, valueIn(text, 'wellspring_cold_backlog_items'));
                if (valueIn(text, 'wellspring_cold_writes_total', 'result="dropped"') > droppedBefore)
                  return true;
                await sleep(250);
                return false;
              },
              60_000,
              'writes dropped past the bound while the disk is full',
            );
          } finally {
            clearInterval(topUp);
            await fh.close();
          }
          newestAtFree = newestMsn((await get(`${d.origin}${playlistPath}`)).body.toString());
          fullMs = Date.now() - fullAt;
          v.mark('space freed');
          unlinkSync(filler);
          await waitFor(
            async () => (await metric(d.origin, 'wellspring_cold_backlog_items')) === 0,
            60_000,
            'the cold backlog drained',
          );
        },
      );
      const errors = (await enospc()) - errorsBefore;
      const lost = (await dropped()) - droppedBefore;
      console.log(
        `disk full ${fullMs} ms (blocks free after the fill: ${freeAtFull}): ${errors} ENOSPC write errors, ` +
          `peak backlog ${peakBacklog} items, ${lost} writes dropped, baseline stall ${run.baselineMs} ms; viewer:`,
        JSON.stringify(summary(run.report)),
      );
      // Live unaffected: no error, no stall over the baseline's + 1 s, through the whole outage and the catch-up.
      expect(run.violations).toEqual([]);
      // Counted: the failed attempts by errno, the backlog up to its bound, the drops past it.
      expect(errors).toBeGreaterThan(0);
      expect(peakBacklog).toBeGreaterThan(3);
      expect(peakBacklog).toBeLessThanOrEqual(MAX_ITEMS);
      expect(lost).toBeGreaterThan(0);
      // Logged per outage, not per write: one line when writes stopped (naming ENOSPC), one when they resumed,
      // and the drops in bursts (at most one line per 5 s).
      const lines = d.lines.slice(from);
      const went = lines.filter((l) => String(l.msg).startsWith('cold tier (disk) unreachable'));
      expect(went.length).toBe(1);
      expect(String(went[0]!.err)).toContain('ENOSPC');
      expect(lines.filter((l) => String(l.msg).startsWith('cold tier (disk) reachable again')).length).toBe(
        1,
      );
      const dropLines = lines.filter((l) => String(l.msg).includes('backlog full')).length;
      expect(dropLines).toBeGreaterThanOrEqual(1);
      expect(dropLines).toBeLessThanOrEqual(1 + Math.ceil(fullMs / 5000));
      // Nothing archived before the disk filled is lost or changed, and no failed write left a partial file.
      await waitFor(() => !files(d.dir).some(isTmp), 10_000, 'no temporary file left in the tier');
      const after = hashes(d.dir);
      for (const [key, hash] of before) expect(after.get(key), key).toBe(hash);
      // Caught up: the archive reaches the live edge of when space came back, with the bytes the hot tier serves.
      const msns = await waitFor(
        async () => {
          const m = await archivedMsns({ type: 'disk', dir: d.dir });
          return m.length > 0 && m.at(-1)! >= newestAtFree ? m : undefined;
        },
        30_000,
        'the archive caught up with the live edge',
      );
      const newest = msns.at(-1)!;
      const hot = await get(`${d.origin}/live/${STREAM}/${RENDITION}/seg-${newest}.m4s`);
      expect(hot.status).toBe(200);
      const cold = readFileSync(join(d.dir, 'live', STREAM, RENDITION, `seg-${newest}.m4s`));
      expect(cold.equals(hot.body)).toBe(true);
    },
    120_000,
  );
});
