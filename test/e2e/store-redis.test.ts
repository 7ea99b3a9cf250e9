/**
 * The Redis adapter of the store ports against a real redis-server and a real 3-master Redis Cluster: one block
 * per Lua script (through the ports), the per-stream event channels, and the stream index. This is the adapter's
 * own test, so it reads raw keys (TTLs, lists) with a separate ioredis client, using the adapter's key builder.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type Config, parseConfig, redisTarget } from '../../src/config.js';
import type { PartEntry, SegmentEntry } from '../../src/core/index.js';
import { objectName } from '../../src/core/index.js';
import type { MediaEvent, RenditionInfo, SegmentWrite, Store } from '../../src/store/ports.js';
import { DeploymentKeys, createRedisStore } from '../../src/store/redis/index.js';
import { waitFor, sleep } from '../support/harness.js';

type Raw = Redis | Cluster;

const targets: Array<{ name: string; config: (keyPrefix: string) => Config; raw: () => Raw }> = [
  {
    name: 'standalone redis-server',
    config: (keyPrefix) => parseConfig({ redisUrl: inject('redisUrl'), keyPrefix }),
    raw: () => new Redis(inject('redisUrl')),
  },
  {
    name: '3-master Redis Cluster',
    config: (keyPrefix) =>
      parseConfig({ redis: { cluster: { nodes: inject('redisClusterNodes').split(',') } }, keyPrefix }),
    raw: () =>
      new Cluster(
        inject('redisClusterNodes')
          .split(',')
          .map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })),
      ),
  },
];

const STREAM = 'cam';
const R = '360p';

const info = (name: string, order = 0): RenditionInfo => ({
  name,
  kind: 'video',
  codec: 'avc1.64001e',
  timescale: 90_000,
  width: 640,
  height: 360,
  frameRate: 30,
  nominalBitrate: 700_000,
  segmentTargetTicks: 90_000,
  partTargetTicks: 22_500,
  order,
});

const part = (msn: number, index: number, durationTicks = 22_500): PartEntry => ({
  msn,
  index,
  startTicks: msn * 90_000 + index * 22_500,
  durationTicks,
  independent: index === 0,
  byteLength: 100,
});

const segment = (msn: number, o: { disc?: number; initId?: number; parts?: number } = {}): SegmentEntry => ({
  msn,
  discontinuitySeq: o.disc ?? 0,
  discontinuity: false,
  initId: o.initId ?? 0,
  startTicks: msn * 90_000,
  durationTicks: 90_000,
  independent: true,
  byteLength: 400,
  wallClockMs: 1_700_000_000_000 + msn * 1000,
  periodStartTicks: 0,
  periodWallClockMs: 1_700_000_000_000,
  parts: Array.from({ length: o.parts ?? 4 }, (_, i) => part(msn, i)),
});

const bytes = (label: string): Buffer => Buffer.from(`${label}:${randomBytes(8).toString('hex')}`);

const write = (o: Partial<SegmentWrite> = {}): SegmentWrite => ({
  segmentSec: 60,
  initSec: 70,
  keepSegments: 3,
  keepPartsSegments: 2,
  ...o,
});

describe.each(targets)('Redis store adapter on a $name', ({ config: configFor, raw: rawFor }) => {
  let raw: Raw;
  let prefix: string;
  let store: Store;
  let keys: DeploymentKeys;
  const opened: Store[] = [];

  const open = (subscribe = false): Store => {
    const st = createRedisStore({
      target: redisTarget(configFor(prefix)),
      prefix,
      role: 'command',
      subscribe,
    });
    opened.push(st);
    return st;
  };

  beforeAll(() => {
    raw = rawFor();
  });
  afterAll(() => {
    raw.disconnect();
  });
  beforeEach(() => {
    prefix = `st${randomBytes(4).toString('hex')}`;
    keys = new DeploymentKeys(prefix);
    store = open();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('publishInit: stores the init with its TTL and the description; the init id only increases', async () => {
    const b2 = bytes('init2');
    const v1 = await store.media.publishInit(STREAM, info(R), 2, b2, 40);
    expect((await store.media.getObject(STREAM, R, objectName.init(2)))?.equals(b2)).toBe(true);
    const ttl = await raw.pttl(keys.stream(STREAM).object(R, objectName.init(2)));
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(40_000);
    const state = await store.streams.readState(STREAM);
    expect(state.renditions).toEqual([info(R)]);
    expect(state.state).toBe('live');
    expect(state.version).toBe(v1);
    expect(await store.media.readResume(STREAM, R)).toMatchObject({ initId: 2, resumed: true });

    // An older init id published later is stored, but does not lower where numbering resumes.
    const b1 = bytes('init1');
    const v2 = await store.media.publishInit(STREAM, info(R), 1, b1, 40);
    expect(v2).toBeGreaterThan(v1);
    expect((await store.media.getObject(STREAM, R, objectName.init(1)))?.equals(b1)).toBe(true);
    expect((await store.media.readResume(STREAM, R)).initId).toBe(2);
    await store.media.publishInit(STREAM, info(R), 3, bytes('init3'), 40);
    expect((await store.media.readResume(STREAM, R)).initId).toBe(3);
    // Another rendition of the same stream has counters of its own.
    expect(await store.media.readResume(STREAM, 'audio')).toMatchObject({ initId: 0, resumed: false });
  });

  it('publishPart: part bytes and the open entry with TTLs; nextMsn, disc and maxPart only increase', async () => {
    const k = keys.stream(STREAM);
    const open7 = { ...segment(7, { disc: 1, parts: 1 }) };
    const p = bytes('part7.0');
    const v1 = await store.media.publishPart(STREAM, R, part(7, 0, 30_000), open7, p, {
      partSec: 20,
      openSec: 25,
    });
    expect((await store.media.getObject(STREAM, R, objectName.part(7, 0)))?.equals(p)).toBe(true);
    expect(await store.media.getOpenEntry(STREAM, R)).toEqual(open7);
    const partTtl = await raw.pttl(k.object(R, objectName.part(7, 0)));
    expect(partTtl).toBeGreaterThan(15_000);
    expect(partTtl).toBeLessThanOrEqual(20_000);
    const openTtl = await raw.pttl(k.open(R));
    expect(openTtl).toBeGreaterThan(20_000);
    expect(openTtl).toBeLessThanOrEqual(25_000);
    expect(await store.media.readResume(STREAM, R)).toMatchObject({
      nextMsn: 8,
      lastDiscontinuitySeq: 1,
      resumed: true,
    });
    expect((await store.streams.readState(STREAM)).maxPartTicks[R]).toBe(30_000);

    // An older part written after the newer one (a late writer): counters stay where they were.
    const v2 = await store.media.publishPart(
      STREAM,
      R,
      part(5, 1, 10_000),
      segment(5, { disc: 0, parts: 2 }),
      bytes('part5.1'),
      { partSec: 20, openSec: 25 },
    );
    expect(v2).toBeGreaterThan(v1);
    expect(await store.media.getObject(STREAM, R, objectName.part(5, 1))).not.toBeNull();
    expect(await store.media.readResume(STREAM, R)).toMatchObject({ nextMsn: 8, lastDiscontinuitySeq: 1 });
    expect((await store.streams.readState(STREAM)).maxPartTicks[R]).toBe(30_000);

    // A newer, longer part raises them.
    await store.media.publishPart(STREAM, R, part(9, 0, 45_000), segment(9, { disc: 2, parts: 1 }), p, {
      partSec: 20,
      openSec: 25,
    });
    expect(await store.media.readResume(STREAM, R)).toMatchObject({ nextMsn: 10, lastDiscontinuitySeq: 2 });
    expect((await store.streams.readState(STREAM)).maxPartTicks[R]).toBe(45_000);
  });

  it('publishSegment: idempotent, trimmed to keepSegments, parts kept for keepPartsSegments, counters only increase', async () => {
    const k = keys.stream(STREAM);
    const listed = async (): Promise<number[]> =>
      (await raw.lrange(k.segments(R), 0, -1)).map((s) => (JSON.parse(s) as SegmentEntry).msn);
    const partMsns = async (): Promise<number[]> =>
      (await raw.hkeys(k.parts(R))).map(Number).sort((a, b) => a - b);

    await store.media.publishInit(STREAM, info(R), 0, bytes('init0'), 5);
    const s0 = bytes('seg0');
    await store.media.publishSegment(STREAM, R, segment(0), s0, write());
    expect((await store.media.getObject(STREAM, R, objectName.segment(0)))?.equals(s0)).toBe(true);
    const segTtl = await raw.pttl(k.object(R, objectName.segment(0)));
    expect(segTtl).toBeGreaterThan(50_000);
    expect(segTtl).toBeLessThanOrEqual(60_000);
    // The segment refreshed its init's TTL (5 s when published) to initSec.
    expect(await raw.pttl(k.object(R, objectName.init(0)))).toBeGreaterThan(60_000);

    // The same segment written twice (a retry after a timed-out call that did run) is listed once.
    await store.media.publishSegment(STREAM, R, segment(0), s0, write());
    expect(await listed()).toEqual([0]);

    for (let msn = 1; msn <= 5; msn++)
      await store.media.publishSegment(STREAM, R, segment(msn), bytes(`seg${msn}`), write());
    expect(await listed()).toEqual([3, 4, 5]);
    expect(await partMsns()).toEqual([4, 5]);
    const storedParts = JSON.parse((await raw.hget(k.parts(R), '5'))!) as PartEntry[];
    expect(storedParts).toEqual(segment(5).parts);
    // The list holds entries without their parts.
    expect(JSON.parse((await raw.lindex(k.segments(R), -1))!)).not.toHaveProperty('parts');
    expect(await store.media.readResume(STREAM, R)).toMatchObject({ nextMsn: 6 });

    // The open entry goes only when it is the segment being written.
    await store.media.publishPart(STREAM, R, part(7, 0), segment(7, { parts: 1 }), bytes('p'), {
      partSec: 20,
      openSec: 20,
    });
    await store.media.publishSegment(STREAM, R, segment(6), bytes('seg6'), write());
    expect((await store.media.getOpenEntry(STREAM, R))?.msn).toBe(7);
    await store.media.publishSegment(STREAM, R, segment(7), bytes('seg7'), write());
    expect(await store.media.getOpenEntry(STREAM, R)).toBeUndefined();
    expect(await listed()).toEqual([5, 6, 7]);

    // A newer segment after a discontinuity, then an older one written late: neither the list nor the counters go back.
    await store.media.publishSegment(STREAM, R, segment(9, { disc: 1 }), bytes('seg9'), write());
    await store.media.publishSegment(STREAM, R, segment(8, { disc: 0 }), bytes('seg8'), write());
    expect(await listed()).toEqual([6, 7, 9]);
    expect(await store.media.readResume(STREAM, R)).toMatchObject({ nextMsn: 10, lastDiscontinuitySeq: 1 });

    // The port reads back the same timeline.
    const state = await store.streams.readState(STREAM);
    const loaded = await store.media.loadTimelines(STREAM, state, 10, 2);
    expect(loaded.version).toBe(state.version);
    expect(loaded.snaps.get(R)?.segments.at(-1)?.msn).toBe(9);
  });

  it('storeManifest: an older version never replaces a newer one; equal or newer does; target stored', async () => {
    const name = 'master.m3u8';
    const m = (version: number, body: string, targetSec = 1) => ({
      name,
      version,
      body,
      msn: version * 10,
      part: 2,
      targetSec,
      renderedAt: 1_700_000_000_000 + version,
    });
    expect(await store.manifests.store(STREAM, [m(5, 'five', 2)], 30)).toEqual({ stored: 1, refused: 0 });
    expect(await store.manifests.read(STREAM, name)).toEqual({
      version: 5,
      body: 'five',
      msn: 50,
      part: 2,
      targetSec: 2,
      renderedAt: 1_700_000_000_005,
    });
    const ttl = await raw.pttl(keys.stream(STREAM).manifest(name));
    expect(ttl).toBeGreaterThan(20_000);
    expect(ttl).toBeLessThanOrEqual(30_000);

    expect(await store.manifests.store(STREAM, [m(3, 'three')], 30)).toEqual({ stored: 0, refused: 1 });
    expect((await store.manifests.read(STREAM, name))?.body).toBe('five');
    expect(await store.manifests.store(STREAM, [m(5, 'five again', 3)], 30)).toEqual({
      stored: 1,
      refused: 0,
    });
    expect(await store.manifests.read(STREAM, name)).toMatchObject({ body: 'five again', targetSec: 3 });
    // Several manifests in one call, some refused.
    const other = { ...m(1, 'other'), name: '360p/index.m3u8' };
    expect(await store.manifests.store(STREAM, [m(6, 'six'), m(4, 'four'), other], 30)).toEqual({
      stored: 2,
      refused: 1,
    });
    expect((await store.manifests.read(STREAM, name))?.body).toBe('six');
    expect((await store.manifests.read(STREAM, '360p/index.m3u8'))?.body).toBe('other');
    expect(await store.manifests.read(STREAM, 'manifest.mpd')).toBeUndefined();
  });

  it('claimLock/releaseLock: a second holder is refused, refresh keeps the lease, a non-holder cannot release', async () => {
    const lockKey = keys.stream(STREAM).publisher;
    expect(await store.locks.claim(STREAM, 'ingest-a', 2000)).toBe(true);
    expect(await store.locks.claim(STREAM, 'ingest-b', 2000)).toBe(false);
    expect(await raw.get(lockKey)).toBe('ingest-a');
    expect(await raw.pttl(lockKey)).toBeLessThanOrEqual(2000);

    await store.locks.refresh(STREAM, 'ingest-a', 60_000);
    expect(await raw.pttl(lockKey)).toBeGreaterThan(50_000);
    // A refresh by another holder neither takes the lease nor extends it.
    await store.locks.refresh(STREAM, 'ingest-b', 120_000);
    expect(await raw.get(lockKey)).toBe('ingest-a');
    expect(await raw.pttl(lockKey)).toBeLessThanOrEqual(60_000);
    expect(await store.locks.claim(STREAM, 'ingest-a', 60_000)).toBe(true);

    await store.locks.release(STREAM, 'ingest-b');
    expect(await raw.get(lockKey)).toBe('ingest-a');
    expect(await store.locks.claim(STREAM, 'ingest-b', 2000)).toBe(false);

    await store.locks.release(STREAM, 'ingest-a');
    expect(await raw.exists(lockKey)).toBe(0);
    expect(await store.locks.claim(STREAM, 'ingest-b', 2000)).toBe(true);

    // An expired lease is free for the next holder.
    expect(await store.locks.claim('cam2', 'ingest-a', 100)).toBe(true);
    await sleep(250);
    expect(await store.locks.claim('cam2', 'ingest-b', 2000)).toBe(true);
  });

  it("event bus: a subscriber hears its stream's events and not another stream's", async () => {
    const publisher = open();
    const subscriber = open(true);
    const heard = { a: [] as MediaEvent[], b: [] as MediaEvent[] };
    const subA = subscriber.events.subscribe('streamA', (ev) => heard.a.push(ev));
    const subB = subscriber.events.subscribe('streamB', (ev) => heard.b.push(ev));
    await Promise.all([subA.ready, subB.ready]);
    expect(subscriber.events.listeners).toBe(2);

    const evA: MediaEvent = { t: 'part', s: 'streamA', r: R, msn: 3, i: 1 };
    const evB: MediaEvent = { t: 'seg', s: 'streamB', r: R, msn: 4 };
    const evC: MediaEvent = { t: 'manifest', s: 'streamC', v: 9, pos: { [R]: { msn: 4, part: 0 } } };
    await publisher.events.publish(evC);
    await publisher.events.publish(evA);
    await publisher.events.publish(evB);
    await waitFor(() => heard.a.length >= 1 && heard.b.length >= 1, 5000, 'events');
    await sleep(200);
    expect(heard.a).toEqual([evA]);
    expect(heard.b).toEqual([evB]);

    // After a listener leaves, its stream's events no longer reach it; the other still hears its own.
    subA.close();
    await publisher.events.publish(evA);
    await publisher.events.publish(evB);
    await waitFor(() => heard.b.length >= 2, 5000, 'second event');
    await sleep(200);
    expect(heard.a).toEqual([evA]);
    subB.close();
    expect(subscriber.events.listeners).toBe(0);
  });

  it('streams.list: streams on different slots, most recently updated first, with their state', async () => {
    const settings = { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 30 };
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    for (const [i, n] of names.entries())
      await store.streams.mark(n, settings, i % 2 ? 'ended' : 'live', 1_000 + i);
    const listed = await store.streams.list(100);
    expect(listed.map((l) => l.name)).toEqual([...names].reverse());
    expect(listed[0]).toEqual({ name: 's7', updatedAt: 1_007, state: 'ended' });
    expect(listed[1]).toEqual({ name: 's6', updatedAt: 1_006, state: 'live' });
    expect((await store.streams.list(3)).map((l) => l.name)).toEqual(['s7', 's6', 's5']);
    expect((await store.streams.readState('s3')).settings).toEqual(settings);
    if (raw instanceof Cluster) {
      // The streams' meta hashes really are on different slots: the listing reads across them.
      const slots = new Set<number>();
      for (const n of names) slots.add(Number(await raw.call('CLUSTER', 'KEYSLOT', keys.stream(n).meta)));
      expect(slots.size).toBeGreaterThan(1);
    }
  });
});
