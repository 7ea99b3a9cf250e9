/**
 * Redis Sentinel (#13): the whole pipeline (ingest, manifest worker, reader) on a Sentinel-monitored primary with
 * one replica and three sentinels (tools/process/redis-sentinel.ts). The primary is killed (SIGKILL) while an
 * encoder publishes; the sentinels promote the replica, every connection follows, and the stream goes on: its
 * playlist advances again and its media sequence never goes backwards. The longest stall and the errors seen are
 * printed, as a player-like viewer through Varnish (tools/viewer) saw them, and issue #13's acceptance rules are
 * checked over what it saw (503 with Retry-After only until the replica is promoted, nothing backwards, no listed
 * object missing).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, redisTarget } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { type RedisSentinelSet, startRedisSentinel } from '../../tools/process/redis-sentinel.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { acceptance, summary, Viewer } from '../../tools/viewer/viewer.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import {
  captureLogger,
  type Encoder,
  rtmpEncoder,
  sleep,
  TEST_LADDER,
  testConfig,
  waitFor,
} from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

const STREAM = 'cam';
const RENDITION = TEST_LADDER[0]!.name;
/** The playlist must advance again within this long after the primary is killed. */
const RECOVERY_MS = 20_000;

let set: RedisSentinelSet;
let config: Config;
let node: NodeHandle;
let enc: Encoder;
let lines: Array<Record<string, unknown>>;
let cdn: EmbeddedCdn;
let viewer: Viewer | undefined;
const template = join(
  fileURLToPath(new URL('../../', import.meta.url)),
  'deploy/varnish/wellspring.vcl.template',
);

interface Sample {
  t: number;
  status: number;
  seq?: number;
  /** Media sequence number of the newest listed segment (full or in progress). */
  msn?: number;
  part?: string;
  error?: string;
}

const playlistUrl = (): string => `http://127.0.0.1:${node.httpPort}/live/${STREAM}/${RENDITION}/index.m3u8`;

async function sample(): Promise<Sample> {
  const t = Date.now();
  try {
    const r = await get(playlistUrl());
    if (r.status !== 200) return { t, status: r.status };
    const pl = m3u8(r.body.toString());
    const segs = pl.segments as Array<{ parts?: Array<{ uri: string }> }>;
    const pending = (pl.preloadSegment?.parts ?? []) as Array<{ uri: string }>;
    const seq = pl.mediaSequence as number;
    return {
      t,
      status: 200,
      seq,
      msn: seq + segs.length - (pending.length ? 0 : 1),
      part: (pending.at(-1) ?? segs.at(-1)?.parts?.at(-1))?.uri,
    };
  } catch (err) {
    return { t, status: 0, error: (err as Error).message };
  }
}

beforeAll(async () => {
  set = await startRedisSentinel();
  config = testConfig({ redis: { sentinel: { sentinels: set.sentinels, name: set.name } } });
  expect(redisTarget(config).kind).toBe('sentinel');
  const cap = captureLogger();
  lines = cap.lines;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], cap.log, createMetrics());
  enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${STREAM}`, 80);
  await waitFor(async () => (await sample()).status === 200, 30_000, 'stream live');
  cdn = await startVarnishCdn([node.httpPort!], template);
});

afterAll(async () => {
  await viewer?.stop();
  await cdn?.stop();
  await enc?.stop();
  await node?.stop();
  await set?.stop();
});

describe('Redis Sentinel failover (#13)', () => {
  it('the primary killed mid-stream: the replica takes over and the stream goes on, never backwards', async () => {
    const samples: Sample[] = [];
    let on = true;
    const poller = (async () => {
      while (on) {
        samples.push(await sample());
        await sleep(100);
      }
    })();
    const v = new Viewer({ url: `${cdn.url}/live/${STREAM}/${RENDITION}/index.m3u8` }).start();
    viewer = v;
    await v.waitForMedia(0, 30_000);
    await sleep(3000);
    const oldPort = set.primary.port;
    expect(await set.primaryPort()).toBe(oldPort);
    const killedAt = v.mark('primary killed');
    const logFrom = lines.length;
    set.primary.child.kill('SIGKILL');
    await waitFor(
      async () => (await set.primaryPort()) === set.replica.port,
      15_000,
      'the sentinels to promote the replica',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await set.describe()}`);
    });
    const promotedAt = v.mark('replica promoted');
    const before = samples.filter((s) => s.t < killedAt && s.msn !== undefined).at(-1)!;
    const advanced = await waitFor(
      () => samples.find((s) => s.t > promotedAt && s.msn !== undefined && s.msn > before.msn!),
      RECOVERY_MS,
      'the playlist to advance after the failover',
    );
    await sleep(4000);
    on = false;
    await poller;
    const end = Date.now();
    const rep = await v.stop();
    const viewerBack = rep.mediaArrivals.find((t) => t > killedAt)! - killedAt;

    // The longest time the playlist's newest part stood still, from just before the kill to the end.
    const changes: number[] = [];
    let last: string | undefined;
    for (const s of samples)
      if (s.part && s.part !== last) {
        last = s.part;
        changes.push(s.t);
      }
    const from = changes.filter((t) => t <= killedAt).at(-1) ?? killedAt;
    const points = [from, ...changes.filter((t) => t > killedAt), end];
    const longestStall = Math.max(...points.slice(1).map((t, i) => t - points[i]!));

    const statuses: Record<string, number> = {};
    for (const s of samples.filter((x) => x.t >= killedAt && x.status !== 200)) {
      const k = s.error ? `fetch error: ${s.error}` : `HTTP ${s.status}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    }
    const logged: Record<string, number> = {};
    for (const l of lines.slice(logFrom))
      if ((l.level as number) >= 40) {
        const k = `${l.level === 40 ? 'warn' : 'error'}: ${String(l.msg)}${l.component ? ` (${String(l.component)})` : ''}`;
        logged[k] = (logged[k] ?? 0) + 1;
      }
    console.log(
      [
        `sentinel failover: replica promoted ${promotedAt - killedAt} ms after the kill`,
        `playlist advanced again ${advanced.t - killedAt} ms after the kill (msn ${before.msn} -> ${advanced.msn})`,
        `longest stall of the newest part: ${longestStall} ms`,
        `reader answers other than 200 after the kill: ${JSON.stringify(statuses)}`,
        `warnings/errors logged after the kill: ${JSON.stringify(logged, null, 1)}`,
        `viewer through Varnish: new media ${viewerBack} ms after the kill; ${JSON.stringify(summary(rep))}`,
      ].join('\n'),
    );
    // Issue #13 asks to report, not bound, what a failover costs: 503s (with Retry-After) from the kill until every
    // connection has followed the promotion are printed above; the rules that hold regardless are asserted.
    const last503 = rep.requests.filter((r) => r.status === 503).at(-1);
    console.log(
      `viewer: last 503 answered ${last503 ? last503.doneAt - promotedAt : '-'} ms after the promotion, ` +
        `longest stall ${rep.longestStallMs} ms`,
    );
    const outage = { from: killedAt, to: rep.endedAt };
    expect(acceptance(rep, { storeOutages: [outage] })).toEqual([]);

    // Media sequence and newest segment never go backwards.
    const ok = samples.filter((s) => s.seq !== undefined);
    for (let i = 1; i < ok.length; i++) {
      expect(ok[i]!.seq!).toBeGreaterThanOrEqual(ok[i - 1]!.seq!);
      expect(ok[i]!.msn!).toBeGreaterThanOrEqual(ok[i - 1]!.msn!);
    }
    expect(advanced.t - killedAt).toBeLessThan(RECOVERY_MS);
    // Still live at the end: the last samples are 200s, and the stream moved on after the failover.
    expect(samples.at(-1)!.status).toBe(200);
    expect(ok.at(-1)!.msn!).toBeGreaterThan(before.msn! + 1);
    expect(enc.child.exitCode).toBeNull();
  });
});
