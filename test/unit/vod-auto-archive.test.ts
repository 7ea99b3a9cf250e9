/** archiveOnEnd (issue #11): a stream's end queues one harvest of the whole event, over the memory event log. */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryAssetJobQueue } from '../../src/queue/memory-assets.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { eventAssetName, startAutoArchive } from '../../src/vod/auto-archive.js';
import { waitFor } from '../support/harness.js';

describe('archiveOnEnd', () => {
  it('queues a harvest from stream.live to stream.ended for configured streams only, once per event', async () => {
    const store = new MemoryStore();
    const jobs = new MemoryAssetJobQueue();
    const sub = startAutoArchive({
      events: store.eventLog,
      jobs,
      streams: new Map([['main', { dvrWindowSec: 600 }]]),
      log: pino({ level: 'silent' }),
    });
    await sub.ready;
    const t0 = Date.parse('2026-11-30T07:00:00Z');
    await store.eventLog.append({ type: 'stream.live', stream: 'main', at: t0 });
    await store.eventLog.append({ type: 'stream.live', stream: 'other', at: t0 });
    await store.eventLog.append({ type: 'stream.ended', stream: 'other', at: t0 + 5000 });
    await store.eventLog.append({ type: 'stream.ended', stream: 'main', at: t0 + 60_000 });
    const id = 'vod-main-20261130T070000';
    const job = await waitFor(() => jobs.get(id), 5000, 'the archive job');
    expect(job.spec).toEqual({
      kind: 'harvest',
      asset: eventAssetName('main', t0),
      stream: 'main',
      startMs: t0,
      endMs: t0 + 60_001,
    });
    expect(await jobs.get('vod-other-20261130T070000')).toBeUndefined();
    // An end without a start heard: from the DVR window's oldest possible media.
    await store.eventLog.append({ type: 'stream.ended', stream: 'main', at: t0 + 3_600_000 });
    const late = await waitFor(() => jobs.get('vod-main-20261130T075000'), 5000, 'the second archive job');
    expect(late.spec).toMatchObject({ startMs: t0 + 3_000_000 });
    sub.close();
  });
});
