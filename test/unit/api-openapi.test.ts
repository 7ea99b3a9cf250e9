/**
 * The control API against its OpenAPI document, in process over the memory store: every implemented route,
 * method and status is in the document and every documented one is implemented; then the routes are driven
 * through a real HTTP server and each status they answer must be a documented one.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi.js';
import { createControlApi } from '../../src/api/router.js';
import { DisabledStreams } from '../../src/api/disabled.js';
import { createMetrics } from '../../src/metrics.js';
import { createReader } from '../../src/reader/reader.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { MemoryColdTier } from '../../src/store/cold/memory/index.js';
import { MemoryAssetJobQueue } from '../../src/queue/memory-assets.js';
import { VodAssets } from '../../src/vod/assets.js';
import { planHarvest } from '../../src/vod/harvest.js';

const READ = 'read-token-0123456789';
const ADMIN = 'admin-token-0123456789';

function documented(): Set<string> {
  const out = new Set<string>();
  for (const [path, ops] of Object.entries(openApiDocument.paths))
    for (const [method, op] of Object.entries(ops))
      for (const status of Object.keys(op!.responses)) out.add(`${method.toUpperCase()} ${path} ${status}`);
  return out;
}

let store: MemoryStore;
let server: Server;
let base: string;
const lines: Array<Record<string, unknown>> = [];
const api = () =>
  createControlApi({
    tokens: [
      { name: 'viewer', token: READ, scope: 'read' },
      { name: 'ops', token: ADMIN, scope: 'admin' },
    ],
    store: new MemoryStore(),
    events: new MemoryStore().events,
    log: pino({ level: 'silent' }),
    historySize: 100,
  });

beforeAll(async () => {
  store = new MemoryStore();
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const reader = createReader({
    store,
    events: store.events,
    metrics: createMetrics(),
    log,
    api: createControlApi({
      tokens: [
        { name: 'viewer', token: READ, scope: 'read' },
        { name: 'ops', token: ADMIN, scope: 'admin' },
      ],
      store,
      events: store.events,
      log,
      historySize: 100,
      // Harvest and jobs (issue #11): a queue without a worker (jobs stay waiting), plans over the memory archive.
      assets: {
        jobs: new MemoryAssetJobQueue(),
        plan: (r) => planHarvest(store, r),
        exists: (a) => new VodAssets(new MemoryColdTier()).exists(a),
      },
    }),
    disabled: new DisabledStreams(store.controls, 404),
  });
  server = createServer(reader.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  await store.streams.mark(
    'cam',
    { segmentSec: 2, partSec: 0.2, windowSec: 30, dvrWindowSec: 60 },
    'live',
    Date.now(),
  );
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the OpenAPI document', () => {
  it('lists exactly the routes, methods and statuses the router implements', () => {
    const implemented = new Set(
      api().routes.flatMap((r) => r.statuses.map((s) => `${r.method} ${r.path} ${s}`)),
    );
    expect([...implemented].sort()).toEqual([...documented()].sort());
  });

  it('names the scope of each route as the router enforces it', () => {
    for (const r of api().routes) {
      const op = openApiDocument.paths[r.path]![r.method.toLowerCase() as 'get' | 'post']!;
      expect(op['x-scope'], r.path).toBe(r.scope);
      expect(op.security !== undefined, r.path).toBe(r.scope !== undefined);
    }
  });

  it('is served at /api/v1/openapi.json as an OpenAPI 3.1 document', async () => {
    const r = await fetch(`${base}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as typeof openApiDocument;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(Object.keys(openApiDocument.paths).sort());
  });
});

describe('answers are documented statuses', () => {
  const seen: string[] = [];
  const call = async (
    method: string,
    path: string,
    template: string,
    token?: string,
    headers = {},
    body?: unknown,
  ) => {
    const ctl = new AbortController();
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
      signal: ctl.signal,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    seen.push(`${method} ${template} ${r.status}`);
    const ok = documented().has(`${method} ${template} ${r.status}`);
    expect(ok, `${method} ${path} answered ${r.status}, not in the document`).toBe(true);
    const type = r.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      ctl.abort();
      return { status: r.status, body: '' };
    }
    return { status: r.status, body: await r.text() };
  };

  it('refuses a missing or unknown token with 401 and a read token on admin actions with 403', async () => {
    expect((await call('GET', '/streams', '/streams')).status).toBe(401);
    expect((await call('GET', '/streams', '/streams', 'not-a-configured-token')).status).toBe(401);
    const r = await call('POST', '/streams/cam/kick', '/streams/{name}/kick', READ);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^FORBIDDEN: /);
    expect(JSON.stringify(lines)).not.toContain(READ);
    expect(JSON.stringify(lines)).not.toContain('not-a-configured-token');
  });

  it('lists, kicks, disables and enables', async () => {
    const list = await call('GET', '/streams', '/streams', READ);
    expect(list.status).toBe(200);
    const body = JSON.parse(list.body) as {
      streams: Array<{ name: string; state: string; health: unknown }>;
    };
    expect(body.streams).toEqual([expect.objectContaining({ name: 'cam', state: 'live', health: null })]);
    expect((await call('GET', '/streams/cam', '/streams/{name}', READ)).status).toBe(200);
    expect((await call('GET', '/streams/nope', '/streams/{name}', READ)).status).toBe(404);
    expect((await call('POST', '/streams/cam/kick', '/streams/{name}/kick', ADMIN)).status).toBe(409);
    await store.healthBoard.report(
      {
        stream: 'cam',
        protocol: 'rtmp',
        publisherAddress: null,
        ingest: 'x',
        ingestBitrateBps: 1,
        ingestFps: 30,
        transcoderSpeed: 1,
        droppedFrames: 0,
        transcoderRestarts: 0,
        renditions: [],
        lastSegmentAt: null,
        connectedAt: Date.now(),
        reportedAt: Date.now(),
      },
      10_000,
    );
    expect((await call('POST', '/streams/cam/kick', '/streams/{name}/kick', ADMIN)).status).toBe(202);
    expect((await call('POST', '/streams/cam/disable', '/streams/{name}/disable', ADMIN)).status).toBe(200);
    expect(await store.controls.isDisabled('cam')).toBe(true);
    expect((await fetch(base.replace('/api/v1', '/live/cam/master.m3u8'))).status).toBe(404);
    expect((await call('POST', '/streams/cam/enable', '/streams/{name}/enable', ADMIN)).status).toBe(200);
    const types = (await store.eventLog.after(undefined, 10)).map((e) => e.type);
    expect(types).toEqual(['publisher.kicked', 'stream.disabled', 'stream.enabled']);
  });

  it('opens the events feed with a token in the query and refuses a malformed Last-Event-ID', async () => {
    expect((await call('GET', `/events?access_token=${READ}`, '/events')).status).toBe(200);
    expect((await call('GET', '/events', '/events', READ, { 'Last-Event-ID': 'x' })).status).toBe(400);
    // The query token is accepted on the feed only.
    expect((await call('GET', `/streams?access_token=${READ}`, '/streams')).status).toBe(401);
  });

  it('queues a harvest with its gaps, refuses bad ranges and unknown streams, and answers the job (issue #11)', async () => {
    const t0 = Date.parse('2026-11-30T08:00:00Z');
    for (const msn of [1, 2, 4, 5])
      await store.archive.record('cam', 'v', {
        msn,
        discontinuitySeq: 0,
        discontinuity: false,
        initId: 0,
        startTicks: msn * 180_000,
        durationTicks: 180_000,
        independent: true,
        byteLength: 1000,
        wallClockMs: t0 + msn * 2000,
        periodStartTicks: 0,
        periodWallClockMs: t0,
      });
    const h = '/streams/{name}/harvest';
    const body = { asset: 'clip', start: '2026-11-30T08:00:00Z', end: '2026-11-30T08:00:20Z' };
    const ok = await call('POST', '/streams/cam/harvest', h, ADMIN, {}, body);
    expect(ok.status).toBe(202);
    const accepted = JSON.parse(ok.body) as { job: { id: string; state: string }; gaps: unknown[] };
    expect(accepted.job).toMatchObject({ id: 'vod-clip', state: 'waiting' });
    expect(accepted.gaps).toEqual([{ rendition: 'v', afterMsn: 2, beforeMsn: 4 }]);
    // The same request again: the same job.
    expect((await call('POST', '/streams/cam/harvest', h, ADMIN, {}, body)).status).toBe(202);
    // Another range under the same asset name.
    const other = { ...body, end: '2026-11-30T08:00:09Z' };
    expect((await call('POST', '/streams/cam/harvest', h, ADMIN, {}, other)).status).toBe(409);
    const reversed = { ...body, asset: 'r', start: body.end, end: body.start };
    const bad = await call('POST', '/streams/cam/harvest', h, ADMIN, {}, reversed);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/must be before end/);
    const outside = { asset: 'o', start: '2026-11-30T09:00:00Z', end: '2026-11-30T09:00:10Z' };
    const out = await call('POST', '/streams/cam/harvest', h, ADMIN, {}, outside);
    expect(out.status).toBe(400);
    expect(out.body).toContain("the stream's window is 2026-11-30T08:00:02.000Z to 2026-11-30T08:00:12.000Z");
    expect((await call('POST', '/streams/nobody/harvest', h, ADMIN, {}, body)).status).toBe(404);
    const job = await call('GET', '/jobs/vod-clip', '/jobs/{id}', READ);
    expect(job.status).toBe(200);
    expect(JSON.parse(job.body)).toMatchObject({ id: 'vod-clip', spec: { kind: 'harvest', stream: 'cam' } });
    expect((await call('GET', '/jobs/vod-none', '/jobs/{id}', READ)).status).toBe(404);
  });

  it('refuses every protected route without a token, every admin route with a read token', async () => {
    await call('GET', '/openapi.json', '/openapi.json');
    for (const r of api().routes) {
      const path = r.path.replace('{name}', 'cam').replace('{id}', 'vod-x');
      if (r.scope) expect((await call(r.method, path, r.path)).status).toBe(401);
      if (r.scope === 'admin') expect((await call(r.method, path, r.path, READ)).status).toBe(403);
    }
  });

  it('covered every documented status but 503 (the store being away is covered end to end)', () => {
    const missing = [...documented()].filter((d) => !seen.includes(d) && !d.endsWith(' 503'));
    expect(missing).toEqual([]);
  });
});
