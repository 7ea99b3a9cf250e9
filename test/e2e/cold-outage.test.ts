/**
 * Issue #11 / #13: the cold tier unavailable mid-stream. The live path never waits on it: a player-like viewer
 * through Varnish sees no error and no stall over 1 s beyond the baseline; the archiver's backlog shows in
 * /metrics while the tier is away and drains once it is back, with every segment archived (nothing lost within
 * the bound); past the bound the oldest writes are dropped, counted in /metrics and logged.
 * (a) S3: the S3-API server (s3rver child process) killed and restarted on the same port.
 * (b) disk: the tier's directory replaced by a plain file (ENOTDIR): tests run as root here, and root ignores
 *     a chmod to read-only, so the directory is taken away instead, then put back.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openColdTier } from '../../src/store/cold/registry.js';
import type { ColdTierSettings } from '../../src/store/cold/types.js';
import { type S3Server, startS3Server } from '../../tools/process/s3-server.js';
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
  const text = (await get(`${origin}/metrics`)).body.toString();
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
    settings = {
      type: 's3',
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    };
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

describe('disk cold tier taken away mid-stream', () => {
  it('live unaffected, backlog in /metrics, drained once the directory is back, every segment archived', async () => {
    const base = mkdtempSync(join(tmpdir(), 'wellspring-cold-outage-'));
    cleanups.push(async () => rmSync(base, { recursive: true, force: true }));
    const dir = join(base, 'cold');
    mkdirSync(dir);
    const r = await rig({ type: 'disk', dir });
    const aside = join(base, 'aside');
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
});
