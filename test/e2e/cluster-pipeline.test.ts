/**
 * The RTMP-to-CDN pipeline on a real 3-master Redis Cluster: an RTMP publisher (ffmpeg) -> ingest -> the cluster
 * -> two manifest workers (BullMQ) -> two readers -> Varnish -> a player-like crawl. The key prefix is chosen so
 * that the stream's keys, the render queue's keys and the stream index sit on three different masters, and each
 * master is asked directly what it holds afterwards.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { createMetrics } from '../../src/metrics.js';
import { queuePrefix } from '../../src/queue/bullmq.js';
import { DeploymentKeys } from '../../src/store/redis/index.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, type Encoder, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';
import { type CrawlReport, crawl, get, m3u8 } from '../support/player.js';

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const STREAM = 'clustercam';
const seeds = inject('redisClusterNodes').split(',');

let a: NodeHandle;
let b: NodeHandle;
let cdn: EmbeddedCdn;
let enc: Encoder | undefined;
let config: ReturnType<typeof testConfig>;
let lines: Array<Record<string, unknown>>;
/** The masters ("host:port") and the slot ranges each serves, as the cluster itself reports them. */
let masters: Array<{ node: string; ranges: Array<[number, number]> }>;

/** The cluster is asked with redis-cli, node by node: what the servers say, not what a client library assumes. */
const cli = async (node: string, ...args: string[]): Promise<string> => {
  const i = node.lastIndexOf(':');
  const { stdout } = await promisify(execFile)('redis-cli', [
    '-h',
    node.slice(0, i),
    '-p',
    node.slice(i + 1),
    ...args,
  ]);
  return stdout.trim();
};
/** Hash slots of many keys, asked in one redis-cli session (one command per line on its stdin). */
const slotsOf = (keys: string[]): Promise<number[]> =>
  new Promise((resolve, reject) => {
    const i = seeds[0]!.lastIndexOf(':');
    const child = spawn('redis-cli', ['-h', seeds[0]!.slice(0, i), '-p', seeds[0]!.slice(i + 1)]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const slots = out.trim().split('\n').map(Number);
      if (slots.length === keys.length && slots.every(Number.isInteger)) resolve(slots);
      else reject(new Error(`redis-cli KEYSLOT: unexpected output ${out.slice(0, 200)}`));
    });
    child.stdin.end(keys.map((k) => `CLUSTER KEYSLOT ${k}\n`).join(''));
  });
const slotOf = async (key: string): Promise<number> => (await slotsOf([key]))[0]!;
const masterOf = async (key: string): Promise<string> => {
  const slot = await slotOf(key);
  return masters.find((m) => m.ranges.some(([from, to]) => slot >= from && slot <= to))!.node;
};
/** Where a deployment with this prefix keeps the stream's keys, the queue's keys and the stream index. */
const placement = async (prefix: string) => {
  const keys = new DeploymentKeys(prefix);
  return {
    stream: await masterOf(keys.stream(STREAM).meta),
    queue: await masterOf(`${queuePrefix(prefix)}:manifests:meta`),
    index: await masterOf(keys.streams),
  };
};

/** The keys this master itself holds that start with `start` (SCAN is local to a node). */
async function keysOn(node: string, start: string): Promise<string[]> {
  const out = await cli(node, '--scan', '--pattern', `${start}*`);
  return out ? out.split('\n') : [];
}

beforeAll(async () => {
  // CLUSTER NODES: "<id> <host:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>".
  masters = (await cli(seeds[0]!, 'CLUSTER', 'NODES'))
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2]!.split(',').includes('master'))
    .map((f) => ({
      node: f[1]!.split('@')[0]!,
      ranges: f.slice(8).map((r) => {
        const [from, to] = r.split('-').map(Number);
        return [from!, to ?? from!] as [number, number];
      }),
    }));
  expect(masters.length).toBe(3);
  // A prefix that puts the stream, the queue and the index on three different masters.
  let keyPrefix = '';
  for (let i = 0; i < 100 && !keyPrefix; i++) {
    const candidate = `t${randomBytes(4).toString('hex')}`;
    const p = await placement(candidate);
    if (new Set([p.stream, p.queue, p.index]).size === 3) keyPrefix = candidate;
  }
  expect(keyPrefix).not.toBe('');
  config = testConfig({
    keyPrefix,
    redis: { cluster: { nodes: seeds } },
    streams: [{ name: STREAM, key: 'cluster-secret-key', ingest: { type: 'rtmp' } }],
  });
  const captured = captureLogger();
  lines = captured.lines;
  // Node A: ingest, a manifest worker, a reader. Node B: another manifest worker and another reader.
  a = await startNode(config, ['ingest', 'manifest', 'reader'], captured.log, createMetrics());
  b = await startNode(config, ['manifest', 'reader'], captured.log, createMetrics());
  cdn = await startVarnishCdn([a.httpPort!, b.httpPort!], template);
});

afterAll(async () => {
  await enc?.stop();
  await a?.stop();
  await b?.stop();
  await cdn?.stop();
});

describe('the pipeline on a 3-master Redis Cluster', () => {
  let report: CrawlReport;

  it('serves an RTMP stream through Varnish: every manifest parses, every named object is fetchable', async () => {
    enc = rtmpEncoder(`rtmp://127.0.0.1:${a.rtmpPort}/live/cluster-secret-key`, 25);
    await waitFor(
      async () => {
        // Two complete segments (numbers start at the clock floor, decision 006: not at 0).
        const r = await get(`${cdn.url}/live/${STREAM}/360p/index.m3u8`);
        return r.status === 200 && m3u8(r.body.toString()).segments.length >= 2;
      },
      30_000,
      'stream live',
    );
    report = await crawl(cdn.url, STREAM, 15, '360p');
    expect(report.violations.slice(0, 20)).toEqual([]);
    expect(report.blockingReloads).toBeGreaterThan(25);
    expect(report.mpds).toBeGreaterThan(3);
    expect(report.objects.size).toBeGreaterThan(50);
    // Both readers (each with its own cluster connections) serve the stream.
    for (const node of [a, b]) {
      const r = await get(`http://127.0.0.1:${node.httpPort}/live/${STREAM}/360p/index.m3u8`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/seg-\d+\.m4s/);
    }
  });

  it("spreads the deployment's keys: the stream's on one slot, the queue's and the index elsewhere", async () => {
    const prefix = config.keyPrefix;
    const expected = await placement(prefix);
    const streamStart = new DeploymentKeys(prefix).stream(STREAM).tag;
    const queueStart = queuePrefix(prefix);
    const held = new Map<string, { stream: string[]; queue: string[]; index: string[] }>();
    for (const { node: m } of masters) {
      held.set(m, {
        stream: await keysOn(m, streamStart),
        queue: await keysOn(m, `${queueStart}:`),
        index: (await keysOn(m, new DeploymentKeys(prefix).streams)).filter(
          (k) => k === new DeploymentKeys(prefix).streams,
        ),
      });
    }
    for (const [master, h] of held) {
      // Each kind of key lives on its own master and nowhere else.
      expect(h.stream.length > 0, `stream keys on ${master}`).toBe(master === expected.stream);
      expect(h.queue.length > 0, `queue keys on ${master}`).toBe(master === expected.queue);
      expect(h.index.length > 0, `index on ${master}`).toBe(master === expected.index);
    }
    const streamKeys = held.get(expected.stream)!.stream;
    const queueKeys = held.get(expected.queue)!.queue;
    // Media objects, timelines, manifests, counters: many keys, one slot.
    expect(streamKeys.some((k) => k.includes(':obj:360p:seg-'))).toBe(true);
    expect(streamKeys.some((k) => k.includes(':manifest:'))).toBe(true);
    expect(streamKeys.length).toBeGreaterThan(20);
    expect(new Set(await slotsOf(streamKeys)).size).toBe(1);
    expect(queueKeys.length).toBeGreaterThan(1);
    expect(new Set(await slotsOf(queueKeys)).size).toBe(1);
  });

  it('logs no CROSSSLOT error and no error at all', () => {
    // The nodes did log (the ingest's publisher, the workers): the check below reads real output.
    expect(lines.length).toBeGreaterThan(0);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toMatch(/CROSSSLOT/i);
    expect(lines.filter((l) => Number(l.level) >= 50).map((l) => JSON.stringify(l).slice(0, 300))).toEqual(
      [],
    );
  });
});
