/**
 * The Redis Cluster the global setup starts (tools/process/redis-cluster.ts) is a real cluster: keys with
 * different hash tags are spread over its masters (each master is asked directly what it holds), keys with one
 * tag share a master, a MULTI over one tag commits atomically, and one over two masters is refused.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const seeds = inject('redisClusterNodes')
  .split(',')
  .map((s) => {
    const [host, port] = s.split(':');
    return { host: host!, port: Number(port) };
  });
const prefix = `wsct-${randomBytes(4).toString('hex')}`;
const tags = Array.from({ length: 12 }, (_, i) => `stream${i}`);
let cluster: Cluster;

/** The keys under `prefix` that this master itself holds (SCAN is local to a node). */
async function keysOn(node: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Per master ("host:port"), the keys under `prefix` it holds, optionally only those ending in `suffix`. */
async function keysByMaster(suffix = ''): Promise<Map<string, string[]>> {
  const byMaster = new Map<string, string[]>();
  for (const m of cluster.nodes('master')) {
    byMaster.set(
      `${m.options.host}:${m.options.port}`,
      (await keysOn(m)).filter((k) => k.endsWith(suffix)),
    );
  }
  return byMaster;
}

/** Writes `${prefix}:{tag}:${suffix}` = tag for every tag through the cluster; returns where each landed. */
async function writeTagged(suffix: string): Promise<Map<string, string[]>> {
  for (const t of tags) await cluster.set(`${prefix}:{${t}}:${suffix}`, t);
  return keysByMaster(`}:${suffix}`);
}

beforeAll(async () => {
  expect(seeds.length).toBeGreaterThanOrEqual(3);
  cluster = new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 2 } });
  await new Promise<void>((resolve, reject) => {
    cluster.once('ready', () => resolve());
    cluster.once('error', reject);
  });
});

afterAll(async () => {
  if (!cluster) return;
  for (const m of cluster.nodes('master')) {
    // One key per DEL: a master's keys sit in many slots, and a multi-key command must stay in one.
    for (const k of await keysOn(m)) await m.del(k);
  }
  await cluster.quit();
});

describe('Redis Cluster from the global setup', () => {
  it('knows every seed as a master, and spreads keys with different hash tags over at least 2 of them', async () => {
    const masters = cluster.nodes('master').map((m) => `${m.options.host}:${m.options.port}`);
    expect(masters.sort()).toEqual(seeds.map((s) => `${s.host}:${s.port}`).sort());

    const byMaster = await writeTagged('k');
    const keys = tags.map((t) => `${prefix}:{${t}}:k`);
    // Every key is held by exactly one master: written through the cluster, found on the nodes themselves.
    expect([...byMaster.values()].flat().sort()).toEqual([...keys].sort());
    const used = [...byMaster.values()].filter((k) => k.length > 0).length;
    expect(used, JSON.stringify(Object.fromEntries(byMaster))).toBeGreaterThanOrEqual(2);
    for (const [i, key] of keys.entries()) expect(await cluster.get(key)).toBe(tags[i]);
  });

  it('commits a MULTI over one hash tag atomically on one master', async () => {
    const [a, b, n] = ['a', 'b', 'n'].map((k) => `${prefix}:{live}:${k}`) as [string, string, string];
    const res = await cluster.multi().set(a, '1').set(b, '2').incr(n).incr(n).exec();
    expect(res).toEqual([
      [null, 'OK'],
      [null, 'OK'],
      [null, 1],
      [null, 2],
    ]);
    expect(await cluster.mget(a, b, n)).toEqual(['1', '2', '2']);
    const holders = [...(await keysByMaster()).values()].filter((k) => k.includes(a));
    expect(holders).toHaveLength(1);
    expect(holders[0]).toEqual(expect.arrayContaining([a, b, n]));
  });

  it('refuses a MULTI over two tags held by different masters, and applies neither write', async () => {
    const [k1, k2] = [...(await writeTagged('x')).values()].filter((k) => k.length > 0).map((k) => k[0]!);
    expect(k1 && k2, 'tagged keys on two masters').toBeTruthy();
    const tx = cluster.multi().set(k1!, 'changed').set(k2!, 'changed');
    await expect(tx.exec()).rejects.toThrow(/CROSSSLOT|same slot|MOVED/);
    expect([await cluster.get(k1!), await cluster.get(k2!)]).not.toContain('changed');
  });
});
