/**
 * Ingest end to end: ffmpeg publishes over RTMP, SRT and a watch folder; a real redis-server holds what the
 * ingest wrote. Nothing is mocked.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/process/redis-server.js';
import { CmafStreamReader, objectName, type SegmentEntry, roundSeconds } from '../../src/core/index.js';
import { ChunkWriter, MSG } from '../../src/rtmp/chunk.js';
import {
  encoder,
  type IngestHarness,
  rtmpEncoder,
  sleep,
  startIngest,
  testConfig,
  waitFor,
} from '../support/harness.js';

let h: IngestHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Every complete segment the store keeps for a rendition, with the part lists it keeps. */
async function segmentsOf(h: IngestHarness, stream: string, rendition: string): Promise<SegmentEntry[]> {
  const state = await h.store.streams.readState(stream);
  const info = state.renditions.find((r) => r.name === rendition);
  if (!info) return [];
  const { snaps } = await h.store.media.loadTimelines(
    stream,
    { ...state, renditions: [info] },
    10_000,
    10_000,
  );
  return snaps.get(rendition)!.segments;
}

/** Everything a rendition wrote is consistent: bytes exist with TTLs, durations within target, times continuous. */
async function checkRendition(
  h: IngestHarness,
  stream: string,
  rendition: string,
  minSegments: number,
): Promise<SegmentEntry[]> {
  const media = h.store.media;
  const state = await h.store.streams.readState(stream);
  const info = state.renditions.find((r) => r.name === rendition)!;
  expect(info, `${rendition} described in meta`).toBeDefined();
  const segs = await segmentsOf(h, stream, rendition);
  expect(segs.length).toBeGreaterThanOrEqual(minSegments);
  const targetSec = Math.ceil(info.segmentTargetTicks / info.timescale);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    expect(roundSeconds(s.durationTicks, info.timescale)).toBeLessThanOrEqual(targetSec);
    if (i > 0) {
      expect(s.msn).toBe(segs[i - 1]!.msn + 1);
      if (!s.discontinuity) expect(s.startTicks).toBe(segs[i - 1]!.startTicks + segs[i - 1]!.durationTicks);
    }
    if (i >= segs.length - 3) {
      const file = objectName.segment(s.msn);
      expect(await media.getObject(stream, rendition, file), `${file} readable`).not.toBeNull();
    }
  }
  // The newest segment: real CMAF whose tfdt matches the entry, and byte-identical to its parts.
  const last = segs[segs.length - 1]!;
  const init = await media.getObject(stream, rendition, objectName.init(last.initId));
  expect(init).not.toBeNull();
  const seg = (await media.getObject(stream, rendition, objectName.segment(last.msn)))!;
  const reader = new CmafStreamReader();
  const events = reader.push(Buffer.concat([init!, seg]));
  reader.end();
  const chunks = events.filter((e) => e.kind === 'chunk');
  expect(chunks[0]!.kind === 'chunk' && chunks[0]!.info.baseMediaDecodeTime).toBe(last.startTicks);
  expect(chunks.reduce((n, c) => n + (c.kind === 'chunk' ? c.info.durationTicks : 0), 0)).toBe(
    last.durationTicks,
  );
  const parts = last.parts;
  expect(parts.length).toBeGreaterThan(0);
  const partBytes = await Promise.all(
    parts.map((p) => media.getObject(stream, rendition, objectName.part(last.msn, p.index))),
  );
  expect(partBytes.every((b) => b !== null)).toBe(true);
  expect(Buffer.concat(partBytes as Buffer[]).equals(seg)).toBe(true);
  return segs;
}

async function expectSameCuts(h: IngestHarness, stream: string, a: string, b: string): Promise<void> {
  const sa = await segmentsOf(h, stream, a);
  const sb = await segmentsOf(h, stream, b);
  const byMsn = new Map(sb.map((s) => [s.msn, s]));
  let compared = 0;
  for (const s of sa) {
    const o = byMsn.get(s.msn);
    if (!o) continue;
    expect([o.startTicks, o.durationTicks]).toEqual([s.startTicks, s.durationTicks]);
    compared++;
  }
  expect(compared).toBeGreaterThan(3);
}

/** Nothing at all stored for a stream: no state, no counters, not listed. */
async function expectNothingStored(h: IngestHarness, stream: string): Promise<void> {
  expect(await h.store.streams.readState(stream)).toMatchObject({
    version: 0,
    renditions: [],
    settings: undefined,
  });
  expect((await h.store.media.readResume(stream, '360p')).resumed).toBe(false);
  expect((await h.store.streams.list(100)).map((s) => s.name)).not.toContain(stream);
}

describe('RTMP ingest', () => {
  it('a 20 s publish lands init, parts and segments of every rendition in Redis, cut at the same times', async () => {
    h = await startIngest(testConfig());
    const enc = rtmpEncoder(h.rtmpUrl('show'), 20);
    expect(await enc.done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('show')).state === 'idle',
      15_000,
      'session end',
    );
    for (const r of ['360p', '240p']) await checkRendition(h, 'show', r, 15);
    await checkRendition(h, 'show', 'audio', 15);
    await expectSameCuts(h, 'show', '360p', '240p');
    const state = await h.store.streams.readState('show');
    expect(state.renditions.map((r) => [r.name, r.codec.slice(0, 4)])).toEqual([
      ['360p', 'avc1'],
      ['240p', 'avc1'],
      ['audio', 'mp4a'],
    ]);
    expect(state.renditions[0]).toMatchObject({ width: 640, height: 360 });
  });

  it('refuses a wrong stream key and a second publisher on a live key, writing nothing for them', async () => {
    h = await startIngest(
      testConfig({ streams: [{ name: 'main', key: 'secret-key-1', ingest: { type: 'rtmp' } }] }),
    );
    const wrong = rtmpEncoder(h.rtmpUrl('not-the-key'), 5);
    expect(await wrong.done).not.toBe(0);
    expect(
      h.lines.some((l) => l.msg === 'RTMP publish refused' && l.code === 'NetStream.Publish.Unauthorized'),
    ).toBe(true);
    await expectNothingStored(h, 'main');

    const first = rtmpEncoder(h.rtmpUrl('secret-key-1'), 14);
    await waitFor(
      async () => (await segmentsOf(h!, 'main', '360p')).length >= 2,
      20_000,
      'first publisher live',
    );
    const second = rtmpEncoder(h.rtmpUrl('secret-key-1'), 5);
    expect(await second.done).not.toBe(0);
    expect(
      h.lines.some((l) => l.msg === 'RTMP publish refused' && l.code === 'NetStream.Publish.BadName'),
    ).toBe(true);
    const before = (await segmentsOf(h, 'main', '360p')).length;
    await waitFor(
      async () => (await segmentsOf(h!, 'main', '360p')).length >= before + 3,
      15_000,
      'first publisher continues',
    );
    expect(await first.done).toBe(0);
  });

  it('a publisher that disconnects and reconnects continues the sequence after a discontinuity', async () => {
    h = await startIngest(testConfig());
    expect(await rtmpEncoder(h.rtmpUrl('cam'), 6).done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('cam')).state === 'idle',
      15_000,
      'first session end',
    );
    const firstRun = await segmentsOf(h, 'cam', '360p');
    expect(await rtmpEncoder(h.rtmpUrl('cam'), 6).done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('cam')).state === 'idle',
      15_000,
      'second session end',
    );
    for (const r of ['360p', '240p', 'audio']) {
      const segs = await checkRendition(h, 'cam', r, 8);
      const d = segs.findIndex((s) => s.discontinuity);
      expect(d, `${r} has a discontinuity`).toBeGreaterThan(0);
      // A new stream's counters start at the clock floor (decision 006); the reconnect adds one.
      const { discontinuitySeq: ds0, initId: init0 } = segs[0]!;
      expect(segs[d]).toMatchObject({ discontinuitySeq: ds0 + 1, initId: init0 + 1 });
      expect(segs.slice(0, d).every((s) => s.discontinuitySeq === ds0 && s.initId === init0)).toBe(true);
      expect(await h.store.media.getObject('cam', r, objectName.init(init0 + 1))).not.toBeNull();
    }
    // No sequence number was used twice: the second run starts after the first run's last.
    const all = await segmentsOf(h, 'cam', '360p');
    expect(all[0]!.msn).toBe(firstRun[0]!.msn);
    expect(new Set(all.map((s) => s.msn)).size).toBe(all.length);
  });

  it('restarts a killed transcoder with a discontinuity while the publisher stays', async () => {
    h = await startIngest(testConfig());
    const enc = rtmpEncoder(h.rtmpUrl('live1'), 16);
    await waitFor(async () => (await segmentsOf(h!, 'live1', '360p')).length >= 4, 20_000, 'segments');
    const session = h.ingest.sessions.get('live1')!;
    const pid = session.transcoderPid;
    session.killTranscoder();
    await waitFor(() => session.transcoderPid !== pid && session.transcoderPid, 10_000, 'new transcoder');
    await waitFor(
      async () => (await segmentsOf(h!, 'live1', '360p')).some((s) => s.discontinuity && s.durationTicks > 0),
      20_000,
      'segments after restart',
    );
    expect(await enc.done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('live1')).state === 'idle',
      15_000,
      'session end',
    );
    const segs = await checkRendition(h, 'live1', '360p', 8);
    const d = segs.findIndex((s) => s.discontinuity);
    expect(segs.length - d).toBeGreaterThanOrEqual(3);
    expect(h.lines.some((l) => l.msg === 'restarting the transcoder with a discontinuity')).toBe(true);
  });

  it('cuts an input that fell behind its publisher back to the live edge: backlog dropped, transcoder restarted', async () => {
    h = await startIngest(testConfig({ maxInputLagSec: 2 }));
    const seconds = 24;
    const enc = rtmpEncoder(h.rtmpUrl('lag'), seconds);
    await waitFor(async () => (await segmentsOf(h!, 'lag', '360p')).length >= 2, 20_000, 'segments');
    const session = h.ingest.sessions.get('lag')!;
    const pid = session.transcoderPid!;
    // The transcoder stops reading for 8 s: its stdin fills, the RTMP socket is paused and the publisher's media
    // queues behind it, as behind a transcoder slower than real time.
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(8000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const cut = await waitFor(
      () => h!.lines.find((l) => String(l.msg).startsWith('input behind its publisher')),
      15_000,
      'the cut',
    );
    // Most of the 8 s stop (ffmpeg's pipe and Node's buffer hold well under a second of this input).
    expect(cut.lagMs).toBeGreaterThan(4000);
    await waitFor(
      () => h!.lines.some((l) => l.msg === 'input back at the live edge'),
      15_000,
      'the live edge',
    );
    expect(await enc.done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('lag')).state === 'idle',
      15_000,
      'session end',
    );
    const segs = await checkRendition(h, 'lag', '360p', 4);
    // After the cut: a discontinuity, and media again.
    const d = segs.findIndex((s) => s.discontinuity);
    expect(d).toBeGreaterThan(0);
    expect(segs.length - d).toBeGreaterThanOrEqual(2);
    // The queue was dropped, not played late: more of the published media is missing than a transcoder restart
    // alone loses (its unfinished segment, its pipe, the wait for a keyframe: up to ~3 s).
    const info = (await h.store.streams.readState('lag')).renditions.find((r) => r.name === '360p')!;
    const storedSec = segs.reduce((n, s) => n + s.durationTicks, 0) / info.timescale;
    expect(storedSec).toBeLessThan(seconds - 5);
  });

  it('closes connections that send garbage, truncated handshakes or absurd chunk sizes, and keeps serving', async () => {
    h = await startIngest(testConfig());
    const port = h.ingest.rtmpPort!;
    const enc = rtmpEncoder(h.rtmpUrl('steady'), 14);
    await waitFor(async () => (await segmentsOf(h!, 'steady', '360p')).length >= 2, 20_000, 'publisher live');
    const hostile = async (bytes: Buffer, endAfter = false): Promise<void> => {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(bytes);
      if (endAfter) s.end();
      await new Promise<void>((r) => s.once('close', () => r()));
    };
    const w = new ChunkWriter();
    const handshake = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536), Buffer.alloc(1536)]);
    const hugeChunk = w.encode({
      csid: 2,
      typeId: MSG.SET_CHUNK_SIZE,
      streamId: 0,
      timestamp: 0,
      payload: Buffer.from([0x7f, 0xff, 0xff, 0xff]),
    });
    await hostile(Buffer.concat([Buffer.from([0x06]), Buffer.alloc(2000, 0xab)]));
    await hostile(Buffer.concat([Buffer.from([3]), Buffer.alloc(100)]), true);
    await hostile(Buffer.concat([handshake, hugeChunk]));
    await hostile(
      Buffer.concat([handshake, Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 131) & 255))]),
    );
    expect(h.lines.filter((l) => l.msg === 'RTMP protocol error').length).toBeGreaterThanOrEqual(3);
    expect(h.lines.some((l) => l.msg === 'RTMP protocol error' && String(l.err).includes('chunk size'))).toBe(
      true,
    );
    const before = (await segmentsOf(h, 'steady', '360p')).length;
    await waitFor(
      async () => (await segmentsOf(h!, 'steady', '360p')).length >= before + 3,
      15_000,
      'the publisher carries on',
    );
    expect(await enc.done).toBe(0);
  });
});

describe('SRT ingest', () => {
  it('takes an encrypted stream and refuses a wrong passphrase, writing nothing for it', async () => {
    const [good, bad] = [await freePort(), await freePort()];
    h = await startIngest(
      testConfig({
        streams: [
          {
            name: 'srtcam',
            ingest: { type: 'srt', port: good, passphrase: 'correct horse battery', latencyMs: 120 },
          },
          { name: 'locked', ingest: { type: 'srt', port: bad, passphrase: 'the real passphrase' } },
        ],
      }),
    );
    await sleep(500);
    const wrong = encoder(
      [
        '-f',
        'mpegts',
        `srt://127.0.0.1:${bad}?passphrase=${encodeURIComponent('not the passphrase')}&pbkeylen=16&connect_timeout=3000`,
      ],
      4,
    );
    expect(await wrong.done).not.toBe(0);
    await expectNothingStored(h, 'locked');

    const enc = encoder(
      [
        '-f',
        'mpegts',
        `srt://127.0.0.1:${good}?passphrase=${encodeURIComponent('correct horse battery')}&pbkeylen=16&latency=120000`,
      ],
      20,
    );
    expect(await enc.done).toBe(0);
    await waitFor(
      async () => (await h!.store.streams.readState('srtcam')).state === 'idle',
      15_000,
      'session end',
    );
    for (const r of ['360p', '240p', 'audio']) await checkRendition(h, 'srtcam', r, 14);
    await expectSameCuts(h, 'srtcam', '360p', '240p');
    await expectNothingStored(h, 'locked');
  });
});

describe('watch folder ingest', () => {
  it("ingests segments written by ffmpeg's hls muxer once and in order, never a partial or non-media file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-watch-'));
    h = await startIngest(testConfig({ streams: [{ name: 'files', ingest: { type: 'watch', dir } }] }));
    const enc = encoder(
      [
        '-f',
        'hls',
        '-hls_time',
        '1',
        '-hls_list_size',
        '0',
        '-hls_segment_filename',
        join(dir, 'seg%03d.ts'),
        join(dir, 'index.m3u8'),
      ],
      8,
    );
    await waitFor(() => h!.lines.some((l) => l.msg === 'watch folder stream started'), 15_000, 'watch start');
    // A half-written file that no playlist lists, and a file that is not media.
    writeFileSync(join(dir, 'partial.ts'), Buffer.alloc(5000, 0x47));
    writeFileSync(join(dir, 'notes.txt'), 'not media');
    expect(await enc.done).toBe(0);
    await sleep(1500);
    const watcher = (h.ingest as unknown as { watchers: Array<{ ingested: string[] }> }).watchers[0]!;
    const listed = Array.from(
      { length: watcher.ingested.length },
      (_, i) => `seg${String(i).padStart(3, '0')}.ts`,
    );
    expect(watcher.ingested).toEqual(listed);
    expect(watcher.ingested.length).toBeGreaterThanOrEqual(7);
    expect(watcher.ingested).not.toContain('partial.ts');
    expect(h.lines.some((l) => l.msg === 'not a media file; skipped' && l.file === 'notes.txt')).toBe(true);
    await waitFor(
      async () => (await segmentsOf(h!, 'files', '360p')).length >= 4,
      15_000,
      'segments from files',
    );
  });
});
