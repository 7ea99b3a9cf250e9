/**
 * Access control through the real pipeline (issue #12): RTMP publisher -> ingest -> redis-server -> manifest
 * worker -> reader (CDN secret, signed playback) -> Varnish (token out of the cache key, checked per token and
 * client) -> fetch clients and hls.js in Chromium. One live stream shared by every case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPlayback } from '../../src/auth/playback/token.js';
import { createMetrics } from '../../src/metrics.js';
import { launchChromium } from '../../tools/latency/browser-meter.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { captureLogger, type Encoder, rtmpEncoder, testConfig, waitFor } from '../support/harness.js';
import { get } from '../support/player.js';

const require = createRequire(import.meta.url);
const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const K1 = { id: 'k1', secret: 'playback-key-one-0123456789' };
const K2 = { id: 'k2', secret: 'playback-key-two-0123456789' };
const CDN_OLD = 'cdn-secret-old-0123456789';
const CDN_NEW = 'cdn-secret-new-0123456789';
const HEADER = 'X-Wellspring-CDN-Secret';
const PUBLISH_KEY = 'cam-publish-key-0123';

let node: NodeHandle;
let cdn: EmbeddedCdn;
let origin: string;
const metrics = createMetrics();
const { log, lines } = captureLogger();
const encoders: Encoder[] = [];
/** Every secret and token this run used: none may appear in a log line. */
const secrets = new Set<string>([K1.secret, K2.secret, CDN_OLD, CDN_NEW, PUBLISH_KEY]);

const nowSec = (): number => Math.floor(Date.now() / 1000);
function token(
  stream: string,
  o: { ttl?: number; key?: { id: string; secret: string }; addr?: string } = {},
): string {
  const t = signPlayback({
    stream,
    expSec: nowSec() + (o.ttl ?? 600),
    key: o.key ?? K1,
    ...(o.addr ? { addr: o.addr } : {}),
  });
  secrets.add(t);
  return t;
}
const signed = (base: string, t: string, path: string): string => `${base}/s/${t}/live/${path}`;
const withSecret = { headers: { [HEADER]: CDN_NEW } };

beforeAll(async () => {
  const config = testConfig({
    streams: [
      { name: 'cam', key: PUBLISH_KEY, ingest: { type: 'rtmp' } },
      { name: 'other', key: 'other-publish-key-0123', ingest: { type: 'rtmp' } },
    ],
    auth: {
      playback: { keys: [K1, K2], edgeCacheSec: 5 },
      cdn: { header: HEADER, secrets: [CDN_OLD, CDN_NEW] },
    },
  });
  node = await startNode(config, ['ingest', 'manifest', 'reader'], log, metrics);
  origin = `http://127.0.0.1:${node.httpPort}`;
  // Varnish sends the old secret: the reader accepts both during the rotation.
  cdn = await startVarnishCdn([node.httpPort!], template, { cdnSecret: CDN_OLD, cdnHeader: HEADER });
  encoders.push(rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${PUBLISH_KEY}`, 120));
  const t = token('cam');
  await waitFor(
    async () => {
      const r = await get(signed(cdn.url, t, 'cam/360p/index.m3u8'));
      return r.status === 200 && (r.body.toString().match(/^seg-\d+\.m4s$/gm) ?? []).length >= 2;
    },
    40_000,
    'cam live through the CDN',
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(encoders.map((e) => e.stop()));
  await node?.stop();
  await cdn?.stop();
});

/** One URL path (under /live/) of each object class, read from the live playlist. */
async function objectPaths(): Promise<Record<string, string>> {
  const text = (await get(signed(origin, token('cam'), 'cam/360p/index.m3u8'), withSecret)).body.toString();
  const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)![1]!;
  const segs = text.match(/^seg-\d+\.m4s$/gm)!;
  const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]!);
  const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(text)!;
  return {
    multivariant: 'cam/master.m3u8',
    'media playlist': 'cam/360p/index.m3u8',
    'blocking reload': `cam/360p/index.m3u8?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}`,
    'preload-hinted part': `cam/360p/part-${hint[1]}.${hint[2]}.m4s`,
    part: `cam/360p/${parts[parts.length - 1]!}`,
    segment: `cam/360p/${segs[segs.length - 1]!}`,
    init: `cam/360p/${init}`,
    mpd: 'cam/manifest.mpd',
    'LL mpd': 'cam/manifest-ll.mpd',
  };
}

async function mediaFetches(): Promise<number> {
  const v = (await metrics.httpRequests.get()).values;
  return v
    .filter((x) => x.labels.class === 'media' && String(x.labels.status) === '200')
    .reduce((n, x) => n + x.value, 0);
}

describe('CDN shared secret', () => {
  it('the reader refuses requests without the secret, takes both rotation secrets, and keeps /healthz open', async () => {
    const t = token('cam');
    const bare = await get(signed(origin, t, 'cam/master.m3u8'));
    expect(bare.status).toBe(403);
    expect(bare.body.toString()).toMatch(/^CDN_SECRET:/);
    expect(
      (await get(signed(origin, t, 'cam/master.m3u8'), { headers: { [HEADER]: 'cdn-secret-wrong-0123456' } }))
        .status,
    ).toBe(403);
    expect((await get(`${origin}/streams`)).status).toBe(403);
    expect((await get(`${origin}/healthz`)).status).toBe(200);
    for (const s of [CDN_OLD, CDN_NEW])
      expect((await get(signed(origin, t, 'cam/master.m3u8'), { headers: { [HEADER]: s } })).status).toBe(
        200,
      );
    // Through Varnish, which sends it.
    expect((await get(signed(cdn.url, t, 'cam/master.m3u8'))).status).toBe(200);
  });
});

describe('signed playback', () => {
  it('serves every object class to a valid token, and refuses missing, expired, tampered, unknown-key, forged and other-stream tokens on each, at the origin and through the CDN', async () => {
    const paths = await objectPaths();
    const good = token('cam');
    const t = token('cam');
    const sig = t.split('.')[4]!;
    const bad: Array<[string, string | undefined, string]> = [
      ['missing', undefined, 'TOKEN_MISSING'],
      ['expired', token('cam', { ttl: -5 }), 'TOKEN_EXPIRED'],
      [
        'tampered',
        t.slice(0, -sig.length) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1),
        'TOKEN_BAD_SIGNATURE',
      ],
      [
        'unknown key',
        token('cam', { key: { id: 'k9', secret: 'retired-key-0123456789' } }),
        'TOKEN_UNKNOWN_KEY',
      ],
      [
        'forged with a known key id',
        token('cam', { key: { id: 'k2', secret: 'guessed-secret-012345' } }),
        'TOKEN_BAD_SIGNATURE',
      ],
      ['for stream other', token('other'), 'TOKEN_BAD_SIGNATURE'],
      ['not a token', 'eyJhbGciOiJub25lIn0.eyJzdHJlYW0iOiJjYW0ifQ.', 'TOKEN_MALFORMED'],
    ];
    const refusals: string[] = [];
    for (const [cls, path] of Object.entries(paths)) {
      for (const [base, init] of [
        [origin, withSecret],
        [cdn.url, {}],
      ] as const) {
        for (const [what, tok, code] of bad) {
          const url = tok === undefined ? `${base}/live/${path}` : signed(base, tok, path);
          const r = await get(url, init);
          const body = r.body.toString();
          if (r.status !== 403 || !body.startsWith(`${code}:`))
            refusals.push(
              `${cls} ${what} via ${base === origin ? 'origin' : 'cdn'}: ${r.status} ${body.trim()}`,
            );
          expect(body).not.toContain('cam'); // no stream name beyond what the URL had (and no token echoed)
        }
      }
      // The valid token last: the hinted part and the blocking reload are held until the part lands.
      for (const [base, init] of [
        [origin, withSecret],
        [cdn.url, {}],
      ] as const) {
        const r = await get(signed(base, good, path), init);
        expect(r.status, `${cls} valid token`).toBe(200);
      }
    }
    expect(refusals).toEqual([]);
  });

  it('an address-bound token is valid only from that address (the CDN forwards the viewer address)', async () => {
    expect((await get(signed(cdn.url, token('cam', { addr: '127.0.0.1' }), 'cam/master.m3u8'))).status).toBe(
      200,
    );
    const r = await get(signed(cdn.url, token('cam', { addr: '192.0.2.1' }), 'cam/master.m3u8'));
    expect(r.status).toBe(403);
    expect(r.body.toString()).toMatch(/^TOKEN_BAD_SIGNATURE:/);
  });

  it('Varnish collapses viewers with different tokens onto one origin fetch per object', async () => {
    // Segments listed now but never fetched through the CDN in this run.
    const text = (await get(signed(origin, token('cam'), 'cam/240p/index.m3u8'), withSecret)).body.toString();
    const segs = (text.match(/^seg-\d+\.m4s$/gm) ?? []).slice(-3);
    expect(segs.length).toBe(3);
    const before = await mediaFetches();
    const viewers = [token('cam'), token('cam', { key: K2 }), token('cam', { addr: '127.0.0.1' })];
    for (const seg of segs) {
      const answers = await Promise.all(viewers.map((v) => get(signed(cdn.url, v, `cam/240p/${seg}`))));
      for (const a of answers) expect(a.status).toBe(200);
      expect(new Set(answers.map((a) => a.body.toString('base64'))).size).toBe(1);
    }
    // Three viewers x three segments = 9 answers from 3 origin fetches.
    expect((await mediaFetches()) - before).toBe(3);
    // Those objects are now in the cache: a bad token still gets no hit.
    for (const t of [token('other'), token('cam', { ttl: -5 })]) {
      const r = await get(signed(cdn.url, t, `cam/240p/${segs[0]!}`));
      expect(r.status).toBe(403);
    }
    expect((await get(`${cdn.url}/live/cam/240p/${segs[0]!}`)).status).toBe(403);
  });

  it('hls.js, dash.js and Shaka Player in Chromium play a signed URL through Varnish with default settings', async () => {
    const players = {
      'hls.js': { lib: require.resolve('hls.js/dist/hls.min.js'), manifest: 'master.m3u8' },
      'dash.js': { lib: require.resolve('dashjs'), manifest: 'manifest.mpd' },
      Shaka: { lib: require.resolve('shaka-player/dist/shaka-player.compiled.js'), manifest: 'master.m3u8' },
    };
    const profile = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
    const ctx = await launchChromium(profile);
    try {
      const results = await Promise.all(
        Object.entries(players).map(async ([name, p]) => {
          const page = await ctx.newPage();
          // A page on the CDN's origin: the signed URL is all the player is given.
          await page.goto(`${cdn.url}/healthz`);
          await page.addScriptTag({ path: p.lib });
          const src = signed(cdn.url, token('cam'), `cam/${p.manifest}`);
          await page.evaluate(
            async ({ name, src }) => {
              type W = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
              const w = window as unknown as W;
              const v = document.createElement('video');
              v.muted = true;
              document.body.appendChild(v);
              w.errors = [] as string[];
              if (name === 'hls.js') {
                const hls = new w.Hls();
                hls.on('hlsError', (_e: string, d: { fatal: boolean; details: string }) => {
                  if (d.fatal) w.errors.push(d.details);
                });
                hls.loadSource(src);
                hls.attachMedia(v);
              } else if (name === 'dash.js') {
                const player = w.dashjs.MediaPlayer().create();
                player.on('error', (e: unknown) => w.errors.push(JSON.stringify(e).slice(0, 200)));
                player.initialize(v, src, true);
              } else {
                w.shaka.polyfill.installAll();
                const player = new w.shaka.Player();
                await player.attach(v);
                player.addEventListener('error', (e: { detail: { code: number } }) =>
                  w.errors.push(String(e.detail.code)),
                );
                await player.load(src);
              }
              void v.play();
            },
            { name, src },
          );
          try {
            await page.waitForFunction(() => document.querySelector('video')!.currentTime > 4, undefined, {
              timeout: 45_000,
            });
          } catch {
            // reported below with the player's errors
          }
          return {
            name,
            time: await page.evaluate(() => document.querySelector('video')!.currentTime),
            errors: await page.evaluate(() => (window as unknown as { errors: string[] }).errors),
          };
        }),
      );
      for (const r of results) {
        expect(r.errors, r.name).toEqual([]);
        expect(r.time, r.name).toBeGreaterThan(4);
      }
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

describe('publishing', () => {
  const PUB_KEY = 'pub-publish-key-0123';
  const JWT_SECRET = 'publish-jwt-secret-0123456789';
  const pubLog = captureLogger();
  let pub: NodeHandle;
  let hook: Server;
  const hookKeys: string[] = [];
  const jwt = async (claims: Record<string, unknown>, expSec: number): Promise<string> => {
    const t = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(expSec)
      .sign(new TextEncoder().encode(JWT_SECRET));
    secrets.add(t);
    return t;
  };

  beforeAll(async () => {
    for (const s of [PUB_KEY, JWT_SECRET, 'hook-good-key']) secrets.add(s);
    // The application's auth hook: allows one key, refuses others, never answers "slow-key".
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const b = JSON.parse(body) as { key: string; action: string; protocol: string; remoteAddr: string };
        hookKeys.push(b.key);
        if (b.key === 'slow-key') return;
        res.statusCode =
          b.key === 'hook-good-key' && b.action === 'publish' && b.protocol === 'rtmp' ? 204 : 403;
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const config = testConfig({
      streams: [{ name: 'pub', key: PUB_KEY, ingest: { type: 'rtmp' } }],
      auth: {
        publish: {
          hook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`, timeoutMs: 500 },
          jwt: { secret: JWT_SECRET },
          failures: { burst: 12, perMinute: 1 },
        },
      },
    });
    pub = await startNode(config, ['ingest'], pubLog.log, createMetrics());
  });

  afterAll(async () => {
    await pub?.stop();
    hook?.closeAllConnections();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    lines.push(...pubLog.lines); // the log check below covers this ingest too
  });

  /** Publishes with ffmpeg as NAME (the part after /live/): 'accepted' or the NetStream code it was refused with. */
  async function publish(name: string, stream?: string): Promise<string> {
    const from = pubLog.lines.length;
    const enc = rtmpEncoder(`rtmp://127.0.0.1:${pub.rtmpPort}/live/${name}`, 30);
    try {
      const l = await waitFor(
        () =>
          pubLog.lines
            .slice(from)
            .find((x) => x.msg === 'RTMP publisher accepted' || x.msg === 'RTMP publish refused'),
        20_000,
        `a decision on ${stream ?? 'the publish'}`,
      );
      return l.msg === 'RTMP publisher accepted' ? 'accepted' : String(l.code);
    } finally {
      await enc.stop();
      if (stream) await waitFor(() => !pub.ingest!.registry.has(stream), 20_000, `${stream} released`);
    }
  }

  it('RTMP by config key: the right key publishes, a wrong one is refused with NetStream.Publish.Unauthorized', async () => {
    expect(await publish(PUB_KEY, 'pub')).toBe('accepted');
    expect(await publish('wrong-key-0000')).toBe('NetStream.Publish.Unauthorized');
  });

  it('RTMP through the auth hook: allow, deny, and a hook that does not answer fails closed', async () => {
    expect(await publish('hookcam?key=hook-good-key', 'hookcam')).toBe('accepted');
    expect(await publish('hookcam?key=hook-bad-key')).toBe('NetStream.Publish.Unauthorized');
    expect(await publish('hookcam?key=slow-key')).toBe('NetStream.Publish.Unauthorized');
    expect(pubLog.lines.some((l) => String(l.msg).includes('fail closed'))).toBe(true);
  });

  it('RTMP with a JWT publish token: valid publishes; expired or for another stream is refused', async () => {
    const t = nowSec();
    expect(
      await publish(`jwtcam?token=${await jwt({ stream: 'jwtcam', action: 'publish' }, t + 60)}`, 'jwtcam'),
    ).toBe('accepted');
    expect(await publish(`jwtcam?token=${await jwt({ stream: 'jwtcam', action: 'publish' }, t - 5)}`)).toBe(
      'NetStream.Publish.Unauthorized',
    );
    expect(await publish(`jwtcam?token=${await jwt({ stream: 'pub', action: 'publish' }, t + 60)}`)).toBe(
      'NetStream.Publish.Unauthorized',
    );
  });

  it('repeated refusals from one address are refused before the hook is asked, then even the right key is', async () => {
    const asked = hookKeys.length;
    const codes: string[] = [];
    for (let i = 0; i < 15; i++) codes.push(await publish(`hookcam?key=guess-${i}-0000`));
    expect(codes.every((c) => c === 'NetStream.Publish.Unauthorized')).toBe(true);
    // 12 refusals per address in the bucket, 5 used above: at most 7 of 15 guesses reached the hook.
    const reached = hookKeys.length - asked;
    expect(reached).toBeLessThanOrEqual(7);
    expect(reached).toBeGreaterThan(0);
    const throttled = pubLog.lines.filter((l) => String(l.msg).includes('too many failures')).length;
    expect(throttled).toBeGreaterThanOrEqual(15 - 7);
    expect(await publish(PUB_KEY)).toBe('NetStream.Publish.Unauthorized');
  });
});

describe('logs', () => {
  it('never contain a secret, a publish key or a token', () => {
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.some((l) => l.msg === 'playback refused')).toBe(true);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    const leaked = [...secrets].filter((s) => text.includes(s));
    expect(leaked).toEqual([]);
  });
});
