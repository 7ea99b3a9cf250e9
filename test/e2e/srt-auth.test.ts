/**
 * SRT publish authorization (issue #12): with a publish hook configured, an SRT caller that passed libsrt's
 * passphrase is put to the hook once ffmpeg opens its input; a refusal drops the caller and the listener is
 * re-armed, and nothing of it is stored. ffmpeg's listener tells us neither the caller's streamid nor its address: the hook sees the stream,
 * protocol "srt" and the configured passphrase as the key, no address.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/process/redis-server.js';
import { encoder, type IngestHarness, startIngest, testConfig, waitFor } from '../support/harness.js';

let h: IngestHarness | undefined;
let hook: Server | undefined;
afterEach(async () => {
  await h?.stop();
  hook?.closeAllConnections();
  await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
  h = hook = undefined;
});

const srtUrl = (port: number, passphrase: string) =>
  `srt://127.0.0.1:${port}?passphrase=${encodeURIComponent(passphrase)}&pbkeylen=16&latency=120000&streamid=caller-streamid-1`;

describe('SRT publish authorization', () => {
  it('a hook refusal drops the caller and re-arms the listener; an allowed stream publishes', async () => {
    const bodies: Array<Record<string, unknown>> = [];
    hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        const body = JSON.parse(b) as Record<string, unknown>;
        bodies.push(body);
        res.statusCode = body.stream === 'allowed' ? 204 : 403;
        res.end();
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
    const [denyPort, allowPort] = [await freePort(), await freePort()];
    h = await startIngest(
      testConfig({
        auth: { publish: { hook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/` } } },
        streams: [
          { name: 'denied', ingest: { type: 'srt', port: denyPort, passphrase: 'denied passphrase 01' } },
          { name: 'allowed', ingest: { type: 'srt', port: allowPort, passphrase: 'allowed passphrase 01' } },
        ],
      }),
    );
    const refused = () => h!.lines.filter((l) => l.msg === 'SRT caller refused: dropped').length;
    const denied = encoder(['-f', 'mpegts', srtUrl(denyPort, 'denied passphrase 01')], 6);
    await waitFor(() => refused() >= 1, 20_000, 'the refusal');
    await denied.done;
    expect(bodies[0]).toEqual({
      action: 'publish',
      protocol: 'srt',
      stream: 'denied',
      key: 'denied passphrase 01',
      remoteAddr: null,
      query: {},
    });
    // The listener is re-armed: a second caller is asked (and refused) again.
    const again = encoder(['-f', 'mpegts', srtUrl(denyPort, 'denied passphrase 01')], 4);
    await waitFor(() => refused() >= 2, 20_000, 'the second refusal');
    await again.done;
    // Nothing of the refused callers reached the store (their output was held until the answer).
    expect(await h.store.streams.readState('denied')).toMatchObject({ version: 0, renditions: [] });
    expect((await h.store.media.readResume('denied', '360p')).resumed).toBe(false);

    const ok = encoder(['-f', 'mpegts', srtUrl(allowPort, 'allowed passphrase 01')], 6);
    expect(await ok.done).toBe(0);
    const state = await waitFor(
      async () => {
        const s = await h!.store.streams.readState('allowed');
        return s.renditions.length > 0 ? s : undefined;
      },
      15_000,
      'the allowed stream',
    );
    expect(state.renditions.map((r) => r.name)).toContain('360p');
    expect(bodies.filter((b) => b.stream === 'allowed')).toHaveLength(1);
  }, 90_000);
});
