/**
 * Encoder-side faults under a player-like viewer through Varnish (#13, section 1):
 * (a) the encoder drops (SIGKILL, no goodbye) and reconnects 5 times: a discontinuity each time, media again
 *     within 3 s of each reconnect, nothing backwards, no listed object missing, no 5xx;
 * (b) Wellspring's own ffmpeg is killed while the encoder stays: media again within 2 s.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { acceptance, summary, untilLive, Viewer } from '../../tools/viewer/viewer.js';
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

const template = join(
  fileURLToPath(new URL('../../', import.meta.url)),
  'deploy/varnish/wellspring.vcl.template',
);
const RENDITION = TEST_LADDER[0]!.name;

let node: NodeHandle;
let lines: Array<Record<string, unknown>>;
let cdn: EmbeddedCdn;
const encoders: Encoder[] = [];
const viewers: Viewer[] = [];

beforeAll(async () => {
  const cap = captureLogger();
  const log = cap.log;
  lines = cap.lines;
  node = await startNode(testConfig(), ['ingest', 'manifest', 'reader'], log, createMetrics());
  cdn = await startVarnishCdn([node.httpPort!], template);
});

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.stop()));
  await Promise.all(encoders.map((e) => e.stop()));
  await node?.stop();
  await cdn?.stop();
});

const publish = (stream: string, seconds: number): Encoder => {
  const e = rtmpEncoder(`rtmp://127.0.0.1:${node.rtmpPort}/live/${stream}`, seconds);
  encoders.push(e);
  return e;
};

async function watch(stream: string): Promise<Viewer> {
  const v = new Viewer({ url: `${cdn.url}/live/${stream}/${RENDITION}/index.m3u8` }).start();
  viewers.push(v);
  await v.waitForMedia(0, 30_000);
  return v;
}

describe('encoder faults under a viewer through Varnish (#13)', () => {
  it('the encoder drops and reconnects 5 times: a discontinuity each, media within 3 s, nothing backwards', async () => {
    let enc = publish('flap', 60);
    const v = await watch('flap');
    await sleep(1500);
    const reconnects: number[] = [];
    const away: Array<{ from: number; to: number }> = [];
    for (let i = 0; i < 5; i++) {
      const dropped = v.mark(`encoder dropped #${i + 1}`);
      enc.child.kill('SIGKILL');
      await enc.done;
      enc = publish('flap', 60);
      const back = v.mark(`encoder reconnected #${i + 1}`);
      reconnects.push(back);
      away.push({ from: dropped, to: back });
      // Media of the new session (parts the old one still had in flight do not count).
      await waitFor(() => v.firstMediaAfterDiscontinuity(back), 10_000, `media after reconnect #${i + 1}`);
      await sleep(1000);
    }
    await sleep(1000);
    const recovery = reconnects.map((t) => v.firstMediaAfterDiscontinuity(t)! - t);
    const rep = await v.stop();
    console.log(
      `encoder flapping x5: media again after ${recovery.join(', ')} ms;`,
      JSON.stringify(summary(rep)),
    );
    expect(
      acceptance(rep, {
        // Until the stream is live, and while the encoder is away, the playlist may answer 404.
        encoderAway: [untilLive(rep), ...away],
        minDiscontinuities: 5,
        noErrors: true,
      }),
    ).toEqual([]);
    expect(
      recovery.filter((ms) => !(ms < 3000)),
      'media of the new session within 3 s of each reconnect',
    ).toEqual([]);
  });

  it("Wellspring's ffmpeg killed while the encoder stays: media again within 2 s", async () => {
    const enc = publish('tc', 40);
    const v = await watch('tc');
    await sleep(2000);
    const session = node.ingest!.sessions.get('tc')!;
    const pid = session.transcoderPid;
    const killed = v.mark('transcoder killed');
    const logFrom = lines.length;
    session.killTranscoder();
    await waitFor(() => session.transcoderPid !== pid && session.transcoderPid, 10_000, 'new transcoder');
    // Parts the dead ffmpeg had already written may still arrive: count media of the new one only.
    const back = await waitFor(
      () => v.firstMediaAfterDiscontinuity(killed),
      10_000,
      'media of the new ffmpeg',
    );
    await sleep(3000);
    const rep = await v.stop();
    console.log(`ffmpeg killed: media again after ${back - killed} ms;`, JSON.stringify(summary(rep)));
    if (back - killed > 2000)
      console.log(
        lines
          .slice(logFrom)
          .filter((l) => (l.level as number) >= 30 && l.stream === 'tc')
          .map((l) => `${String(l.time)} ${String(l.msg)} ${String(l.delayMs ?? l.reason ?? '')}`)
          .join('\n'),
      );
    expect(
      acceptance(rep, {
        // The encoder stays: after the stream is live no answer but 200 (a hint of the dead process may 404).
        encoderAway: [untilLive(rep)],
        minDiscontinuities: 1,
        noErrors: true,
      }),
    ).toEqual([]);
    expect(back - killed, 'new media within 2 s of the kill').toBeLessThan(2000);
    expect(enc.child.exitCode).toBeNull();
  });
});
