/**
 * The ingest's side of operations over the memory store: a disabled stream is refused before its key is
 * checked, an accepted publisher is announced and carries a signal an operator's kick (an event in the log)
 * aborts, its release is announced with the reason, and stream live/ended follow the directory marks.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngestOperations } from '../../src/ingest/operations.js';
import type { Authorization } from '../../src/ingest/source.js';
import { createMetrics } from '../../src/metrics.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { waitFor } from '../support/harness.js';

const settings = { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 30, renditions: ['360p'] };

describe('ingest operations', () => {
  it('refuses a disabled stream, announces connect, kick and leave, and stream live/ended', async () => {
    const store = new MemoryStore();
    const ops = new IngestOperations({
      store,
      metrics: createMetrics(),
      log: pino({ level: 'silent' }),
      instance: 'i1',
    });
    ops.start();
    let released = 0;
    let innerCalls = 0;
    const inner = async (): Promise<Authorization> => {
      innerCalls++;
      return { ok: true, stream: 'cam', config: undefined, release: async () => void released++ };
    };
    try {
      await store.controls.setDisabled('cam', true);
      const refused = await ops.authorize('rtmp', 'cam', inner);
      expect(refused).toMatchObject({ ok: false, reason: 'unauthorized', message: 'stream is disabled' });
      expect(innerCalls).toBe(0);
      await store.controls.setDisabled('cam', false);

      const a = await ops.authorize('rtmp', 'cam', inner);
      expect(a.ok).toBe(true);
      if (!a.ok) return;
      const session = ops.sessionStore('cam', store);
      await session.streams.mark('cam', settings, 'live', Date.now());
      await store.eventLog.append({
        type: 'publisher.kicked',
        stream: 'cam',
        at: Date.now(),
        data: { by: 'ops' },
      });
      await waitFor(() => a.revoked?.aborted, 2000, 'the kick revokes the authorization');
      await session.streams.mark('cam', settings, 'idle', Date.now());
      await a.release();
      expect(released).toBe(1);
      await waitFor(async () => (await store.eventLog.after(undefined, 100)).length >= 6, 2000, 'events');
      const evs = await store.eventLog.after(undefined, 100);
      expect(evs.map((e) => e.type)).toEqual([
        'publisher.refused',
        'publisher.connected',
        'stream.live',
        'publisher.kicked',
        'stream.ended',
        'publisher.left',
      ]);
      expect(evs[0]!.data).toMatchObject({ reason: 'disabled', protocol: 'rtmp' });
      expect(evs.at(-1)!.data).toMatchObject({ reason: 'publisher.kicked' });
      // The health record of a publisher that left is gone.
      await new Promise((r) => setTimeout(r, 5));
      expect((await store.healthBoard.read(['cam'])).size).toBe(0);
    } finally {
      ops.stop();
    }
  });
});
