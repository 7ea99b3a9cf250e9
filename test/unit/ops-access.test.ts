/**
 * /metrics and /streams list every stream: with a closed config they answer only a control API token (issue #12,
 * "/metrics and the API are protected separately"); /healthz and the playlists are not affected.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiTokens } from '../../src/api/auth.js';
import { opsNeedToken, parseConfig } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { createReader } from '../../src/reader/reader.js';
import { MemoryStore } from '../../src/store/memory/index.js';

const READ = 'ops-read-token-0123456789';
const lines: Array<Record<string, unknown>> = [];
let store: MemoryStore;
let server: Server;
let base: string;

beforeAll(async () => {
  store = new MemoryStore();
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const reader = createReader({
    store: { media: store.media, manifests: store.manifests, streams: store.streams, health: store.health },
    events: store.events,
    metrics: createMetrics(),
    log,
    opsTokens: new ApiTokens([{ name: 'prom', token: READ, scope: 'read' }]),
  });
  server = createServer(reader.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.close();
});

const get = async (path: string, token?: string) => {
  const r = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, text: await r.text() };
};

describe('ops access', () => {
  it('answers /metrics and /streams only with a control API token; /healthz stays open', async () => {
    for (const path of ['/metrics', '/streams']) {
      expect(await get(path)).toMatchObject({ status: 401, text: expect.stringMatching(/^UNAUTHORIZED:/) });
      expect((await get(path, 'wrong-token-0123456789')).status).toBe(401);
      expect((await get(path, READ)).status).toBe(200);
    }
    expect((await get('/metrics', READ)).text).toContain('wellspring_http_requests_total');
    expect((await get('/healthz')).status).toBe(200);
    expect(JSON.stringify(lines)).not.toContain(READ);
  });

  it('is closed by default for a config that names streams and has API tokens, open for the demo', () => {
    const tokens = [{ name: 'ops', token: READ, scope: 'read' }];
    const named = { streams: [{ name: 'cam', key: 'cam-key-0123456789' }] };
    expect(opsNeedToken(parseConfig({}))).toBe(false);
    expect(opsNeedToken(parseConfig({ api: { tokens } }))).toBe(false);
    expect(opsNeedToken(parseConfig({ ...named }))).toBe(false);
    expect(opsNeedToken(parseConfig({ ...named, api: { tokens } }))).toBe(true);
    expect(opsNeedToken(parseConfig({ ...named, api: { tokens, opsAccess: 'open' } }))).toBe(false);
    expect(opsNeedToken(parseConfig({ api: { opsAccess: 'token' } }))).toBe(true);
  });
});
