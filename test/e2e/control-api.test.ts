/**
 * The control API, its events feed, webhooks and the operator page through the real pipeline (issue #12):
 * ffmpeg publishes over RTMP -> ingest -> redis-server -> manifest worker -> reader, one process per role set,
 * one stream shared by every case. A webhook receiver (an HTTP server of the test) is down for the first cases
 * and comes up later; Chromium opens the operator page. The screenshot is written under os.tmpdir().
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { launchChromium } from '../../tools/latency/browser-meter.js';
import { freePort } from '../../tools/process/net.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, type Encoder, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';

const READ = 'read-token-e2e-0123456789';
const ADMIN = 'admin-token-e2e-0123456789';
const HOOK_SECRET = 'hook-secret-e2e-0123456789';
const KEY = 'cam-key-e2e-0123';

interface Ev {
  id?: string;
  type: string;
  stream?: string;
  at: number;
  data?: Record<string, unknown>;
}

/** A Server-Sent Events client over fetch streaming: every frame, in order. */
function sse(url: string, headers: Record<string, string> = {}) {
  const events: Ev[] = [];
  const ctl = new AbortController();
  let status = 0;
  const done = (async () => {
    const r = await fetch(url, { headers, signal: ctl.signal });
    status = r.status;
    if (!r.body) return;
    let buf = '';
    const dec = new TextDecoder();
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (data) events.push(JSON.parse(data) as Ev);
      }
    }
  })().catch(() => undefined);
  return { events, status: () => status, close: () => ctl.abort(), done };
}

let node: NodeHandle;
let base: string;
let hookPort: number;
let hook: Server | undefined;
const delivered: Array<{ id: string; valid: boolean; body: Ev }> = [];
const encoders: Encoder[] = [];
const { log, lines } = captureLogger();
let feed: ReturnType<typeof sse>;

const api = (path: string, token?: string, method = 'GET') =>
  fetch(`${base}/api/v1${path}`, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
const publish = (seconds = 120): Encoder => {
  const e = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${KEY}`, seconds);
  encoders.push(e);
  return e;
};
const ofType = (evs: Ev[], type: string) => evs.filter((e) => e.type === type && e.stream === 'cam');
const live = async () =>
  waitFor(
    async () => {
      const r = await fetch(`${base}/live/cam/360p/index.m3u8`);
      return r.status === 200 && ((await r.text()).match(/^seg-\d+\.m4s$/gm) ?? []).length >= 2;
    },
    40_000,
    'cam live',
  );

function startHook(): Promise<void> {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const sig = String(req.headers['x-wellspring-signature'] ?? '');
      const m = /^t=(\d+),sha256=([0-9a-f]{64})$/.exec(sig);
      const mac = m ? createHmac('sha256', HOOK_SECRET).update(`${m[1]}.${body}`).digest('hex') : '';
      delivered.push({
        id: String(req.headers['x-wellspring-event-id']),
        valid: !!m && m[2] === mac,
        body: JSON.parse(body) as Ev,
      });
      res.end('ok');
    });
  });
  return new Promise((r) => hook!.listen(hookPort, '127.0.0.1', () => r()));
}

beforeAll(async () => {
  hookPort = await freePort();
  const config = testConfig({
    streams: [{ name: 'cam', key: KEY, ingest: { type: 'rtmp' } }],
    api: {
      tokens: [
        { name: 'viewer', token: READ, scope: 'read' },
        { name: 'operator', token: ADMIN, scope: 'admin' },
      ],
      disabledStatus: 403,
      // The receiver is down at first: a connection refused is retried with backoff (0.5, 1, 2, 2, 2 s, ...).
      webhooks: [{ url: `http://127.0.0.1:${hookPort}/hook`, secret: HOOK_SECRET }],
      webhookAttempts: 200,
      webhookMaxBackoffMs: 2000,
    },
  });
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
  base = `http://127.0.0.1:${node.httpPort}`;
  feed = sse(`${base}/api/v1/events`, { Authorization: `Bearer ${READ}` });
  await waitFor(() => feed.status() === 200, 10_000, 'events feed open');
  publish();
  await live();
}, 60_000);

afterAll(async () => {
  feed?.close();
  await Promise.all(encoders.map((e) => e.stop()));
  await node?.stop();
  await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
  // No token or webhook secret in any log line of the run.
  const text = JSON.stringify(lines);
  for (const s of [READ, ADMIN, HOOK_SECRET, KEY]) expect(text).not.toContain(s);
});

describe('control API', () => {
  it('refuses a request without a token (401) and an admin action with a read token (403)', async () => {
    const r = await api('/streams');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await r.text()).toMatch(/^UNAUTHORIZED: /);
    for (const action of ['kick', 'disable', 'enable']) {
      const f = await api(`/streams/cam/${action}`, READ, 'POST');
      expect(f.status, action).toBe(403);
      expect(await f.text()).toMatch(/^FORBIDDEN: /);
    }
    expect(lines.some((l) => l.msg === 'control API request refused' && l.reason === 'missing')).toBe(true);
  });

  it('lists the live stream with its publisher health', async () => {
    const s = await waitFor(
      async () => {
        const body = (await (await api('/streams', READ)).json()) as {
          streams: Array<{
            name: string;
            state: string;
            disabled: boolean;
            health: Record<string, unknown> | null;
          }>;
        };
        const cam = body.streams.find((x) => x.name === 'cam');
        return cam?.health && (cam.health.transcoderSpeed as number) > 0 ? cam : undefined;
      },
      15_000,
      'a health report with transcoder speed',
    );
    expect(s.state).toBe('live');
    expect(s.disabled).toBe(false);
    const h = s.health!;
    expect(h.protocol).toBe('rtmp');
    expect(h.publisherAddress).toMatch(/127\.0\.0\.1$/);
    expect(h.ingestBitrateBps as number).toBeGreaterThan(50_000);
    expect(h.ingestFps as number).toBeGreaterThan(15);
    expect(h.ingestFps as number).toBeLessThan(45);
    expect(h.transcoderRestarts).toBe(0);
    expect(h.renditions).toEqual(expect.arrayContaining(['360p', '240p', 'audio']));
    expect(Date.now() - Date.parse(h.lastSegmentAt as string)).toBeLessThan(5000);
  });

  it('feeds publisher connected and stream live, and a resume gets exactly the missed events', async () => {
    await waitFor(() => ofType(feed.events, 'stream.live').length > 0, 10_000, 'stream.live');
    const connected = ofType(feed.events, 'publisher.connected')[0]!;
    expect(connected.data).toMatchObject({ protocol: 'rtmp' });
    expect(feed.events.indexOf(connected)).toBeLessThan(
      feed.events.indexOf(ofType(feed.events, 'stream.live')[0]!),
    );
    // Something to miss: an operator action after the id we resume from.
    expect((await api('/streams/other/enable', ADMIN, 'POST')).status).toBe(200);
    await waitFor(() => feed.events.some((e) => e.type === 'stream.enabled'), 10_000, 'stream.enabled');
    const withIds = feed.events.filter((e) => e.id);
    const after = withIds.slice(withIds.indexOf(connected) + 1).map((e) => e.id);
    expect(after.length).toBeGreaterThan(0);
    const resumed = sse(`${base}/api/v1/events`, {
      Authorization: `Bearer ${READ}`,
      'Last-Event-ID': connected.id!,
    });
    try {
      await waitFor(() => resumed.events.length >= after.length, 10_000, 'the missed events');
      expect(resumed.events.slice(0, after.length).map((e) => e.id)).toEqual(after);
    } finally {
      resumed.close();
    }
  });

  it('kicks the RTMP publisher: the encoder is disconnected and the feed says so', async () => {
    const enc = encoders.at(-1)!;
    const r = await api('/streams/cam/kick', ADMIN, 'POST');
    expect(r.status).toBe(202);
    const body = (await r.json()) as { eventId: string };
    expect(body.eventId).toMatch(/^\d+-\d+$/);
    const code = await Promise.race([
      enc.done,
      new Promise((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    expect(code).not.toBe('still running');
    await waitFor(() => ofType(feed.events, 'publisher.left').length > 0, 10_000, 'publisher.left');
    expect(ofType(feed.events, 'publisher.kicked')[0]!.data).toMatchObject({ by: 'operator' });
    expect(ofType(feed.events, 'publisher.left')[0]!.data).toMatchObject({ reason: 'publisher.kicked' });
    // No publisher any more: a second kick has nothing to drop.
    await waitFor(async () => (await api('/streams/cam/kick', ADMIN, 'POST')).status === 409, 10_000, '409');
  });

  it('disables the stream: publishers refused, playlists 403; enabling restores both', async () => {
    expect((await api('/streams/cam/disable', ADMIN, 'POST')).status).toBe(200);
    await waitFor(async () => (await fetch(`${base}/live/cam/master.m3u8`)).status === 403, 5000, '403');
    expect(await (await fetch(`${base}/live/cam/360p/index.m3u8`)).text()).toMatch(/^STREAM_DISABLED: /);
    const refused = publish(30);
    const code = await Promise.race([
      refused.done,
      new Promise((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    await waitFor(
      () => ofType(feed.events, 'publisher.refused').some((e) => e.data?.reason === 'disabled'),
      10_000,
      'publisher.refused',
    );
    expect((await api('/streams/cam', READ)).status).toBe(200);
    expect(((await (await api('/streams/cam', READ)).json()) as { disabled: boolean }).disabled).toBe(true);

    expect((await api('/streams/cam/enable', ADMIN, 'POST')).status).toBe(200);
    await waitFor(async () => (await fetch(`${base}/live/cam/master.m3u8`)).status === 200, 5000, '200');
    const connectedBefore = ofType(feed.events, 'publisher.connected').length;
    const enabledAt = Date.now();
    publish();
    await waitFor(
      () => ofType(feed.events, 'publisher.connected').length > connectedBefore,
      15_000,
      'reconnect',
    );
    // The new publisher's media flows: its health report names a segment published after the enable.
    await waitFor(
      async () => {
        const cam = (await (await api('/streams/cam', READ)).json()) as {
          health: { lastSegmentAt: string | null } | null;
        };
        return !!cam.health?.lastSegmentAt && Date.parse(cam.health.lastSegmentAt) > enabledAt;
      },
      20_000,
      'a segment of the new publisher',
    );
  });

  it('delivers every event once, signed, to a webhook receiver that was down and comes up', async () => {
    expect(delivered).toEqual([]);
    await startHook();
    const expected = feed.events.filter((e) => e.id).map((e) => e.id!);
    await waitFor(
      () => expected.every((id) => delivered.some((d) => d.id === id)),
      40_000,
      'every event delivered',
    );
    const ids = delivered.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(delivered.every((d) => d.valid)).toBe(true);
    expect(delivered.every((d) => d.body.id === d.id)).toBe(true);
  }, 60_000);

  it('operator page: lists the stream, the preview plays, an event appears when a publisher connects', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
    const ctx = await launchChromium(profile);
    const shot = join(tmpdir(), `wellspring-operator-page-${Date.now()}.png`);
    try {
      const page = await ctx.newPage();
      await page.goto(`${base}/`);
      await page.fill('#token', READ);
      await page.click('#login-button');
      await page.waitForSelector('#ops-streams tr[data-stream="cam"]', { timeout: 15_000 });
      await page.waitForFunction(
        () => {
          const v = document.querySelector<HTMLVideoElement>('video[data-preview="cam"]');
          return !!v && v.currentTime > 2;
        },
        undefined,
        { timeout: 30_000 },
      );
      await waitFor(
        async () =>
          await page.evaluate(
            () => (window as unknown as { wellspringOps: { feed: boolean } }).wellspringOps.feed,
          ),
        10_000,
        'page feed',
      );
      const before = await page.locator('#events li[data-type="publisher.connected"]').count();
      // A publisher connects while the page is open (after a kick of the current one).
      expect((await api('/streams/cam/kick', ADMIN, 'POST')).status).toBe(202);
      await encoders.at(-1)!.done;
      publish(60);
      await page.waitForFunction(
        (n) => document.querySelectorAll('#events li[data-type="publisher.connected"]').length > n,
        before,
        { timeout: 20_000 },
      );
      // The kicked publisher's preview goes away with its health record; the new publisher gets a new preview,
      // which must play again (a CI run found no preview element right after the event: it is re-created on the
      // next poll of the stream list).
      await page.waitForFunction(
        () => {
          const v = document.querySelector<HTMLVideoElement>('video[data-preview="cam"]');
          return !!v && v.currentTime > 1;
        },
        undefined,
        { timeout: 30_000 },
      );
      await page.waitForSelector('#cards svg polyline', { timeout: 10_000 });
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`operator page screenshot: ${shot}`);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 90_000);
});
