/**
 * Issue #13, "a hook outage": the publish auth hook (src/auth/publish/hook) goes away while a stream it allowed
 * is live. What must hold: the live stream keeps playing for a player-like viewer through Varnish (no error, no
 * stall over 1 s, the publisher is not kicked), a new publish during the outage is refused (fail closed) with a
 * log line that says why and names the stream but not the key, and once the hook is back new publishes succeed.
 */
import { type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/process/net.js';
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
import { type CdnNode, startCdnNode, viewThroughFault } from '../support/outage.js';
import { get } from '../support/player.js';

const GOOD = 'hook-outage-good-key';
const LIVE = 'onair';
const playlistPath = `/live/${LIVE}/${TEST_LADDER[0]!.name}/index.m3u8`;

const { log, lines } = captureLogger();
let hookPort: number;
let hook: Server | undefined;
let hookCalls = 0;
let rig: CdnNode | undefined;
let node: NodeHandle;
let cdn: EmbeddedCdn;
const encoders: Encoder[] = [];

/** The application's hook: allows GOOD for any stream. Listens on the same port every time it is (re)started. */
async function hookUp(): Promise<void> {
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hookCalls++;
      const b = JSON.parse(body) as { key: string; action: string };
      res.statusCode = b.key === GOOD && b.action === 'publish' ? 204 : 403;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(hookPort, '127.0.0.1', () => resolve());
  });
  hook = s;
}

async function hookDown(): Promise<void> {
  const s = hook;
  hook = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}

/** Publishes STREAM with ffmpeg and the good key: 'accepted' or the NetStream code it was refused with. */
async function publish(stream: string, keep = false): Promise<string> {
  const from = lines.length;
  const enc = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${stream}?key=${GOOD}`, 120);
  const l = await waitFor(
    () =>
      lines
        .slice(from)
        .find(
          (x) =>
            (x.msg === 'RTMP publisher accepted' && x.stream === stream) || x.msg === 'RTMP publish refused',
        ),
    20_000,
    `a decision on ${stream}`,
  );
  if (keep) encoders.push(enc);
  else {
    await enc.stop();
    await waitFor(() => !node.ingest!.registry.has(stream), 20_000, `${stream} released`);
  }
  return l.msg === 'RTMP publisher accepted' ? 'accepted' : String(l.code);
}

beforeAll(async () => {
  hookPort = await freePort();
  await hookUp();
  const config = testConfig({
    // A listed RTMP stream makes the ingest listen for RTMP; the streams below are admitted by the hook alone.
    streams: [{ name: 'listed', key: 'listed-publish-key-0123', ingest: { type: 'rtmp' } }],
    auth: { publish: { hook: { url: `http://127.0.0.1:${hookPort}/auth`, timeoutMs: 5000 } } },
  });
  rig = await startCdnNode(config, log);
  ({ node, cdn } = rig);
});

afterAll(async () => {
  await Promise.all(encoders.map((e) => e.stop()));
  await rig?.stop();
  await hookDown();
});

describe('publish hook outage (#13)', () => {
  it('live playback continues, new publishes fail closed with a log line, and succeed once the hook is back', async () => {
    expect(await publish(LIVE, true)).toBe('accepted');
    await waitFor(
      async () => (await get(`${cdn.url}${playlistPath}`)).status === 200,
      30_000,
      'live via CDN',
    );
    let before = { newestMsn: -1 };
    let callsBefore = 0;
    let upAt = 0;
    // A baseline: how long media may stand still on this (shared, loaded) machine without any fault.
    const run = await viewThroughFault(
      `${cdn.url}${playlistPath}`,
      { baselineMs: 5000, label: 'hook down' },
      async (v) => {
        before = v.lastPlaylist()!;
        callsBefore = hookCalls;
        await hookDown();
        const refusedFrom = lines.length;
        expect(await publish('latecomer')).toBe('NetStream.Publish.Unauthorized');
        const why = lines
          .slice(refusedFrom)
          .find((l) => String(l.msg).includes('fail closed') && l.stream === 'latecomer');
        expect(why, 'a log line saying the hook is unreachable').toBeDefined();
        expect(JSON.stringify(lines.slice(refusedFrom))).not.toContain(GOOD);
        // The outage lasts a few segments more with the live stream still publishing.
        await sleep(4000);
        upAt = v.mark('hook back');
        await hookUp();
        expect(await publish('latecomer')).toBe('accepted');
      },
    );
    const after = run.report.playlists.at(-1)!;
    console.log(
      `hook outage ${upAt - run.downAt} ms: msn ${before.newestMsn} -> ${after.newestMsn}, longest stall ` +
        `before the outage ${run.baselineMs} ms; viewer:`,
      JSON.stringify(summary(run.report)),
    );
    // No error, and no stall longer than 1 s beyond the baseline's longest.
    expect(run.violations).toEqual([]);
    // The allowed publisher was never asked again nor kicked: it kept publishing through the outage.
    expect(encoders[0]!.child.exitCode, encoders[0]!.stderr()).toBeNull();
    expect(node.ingest!.registry.has(LIVE)).toBe(true);
    expect(after.newestMsn).toBeGreaterThan(before.newestMsn + 3);
    expect(hookCalls).toBe(callsBefore + 1); // only the latecomer's publish after the hook came back
  });
});
