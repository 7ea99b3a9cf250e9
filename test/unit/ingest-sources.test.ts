/**
 * Ingest sources behind one interface: the service creates one source per configured kind from the registry,
 * RTMP publish decisions go through the shared authorization (key, one publisher per stream), and the
 * transcoder supervisor restarts a killed ffmpeg (real ffmpeg), ends when told not to restart, and stops.
 */
import { mkdtempSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../src/config.js';
import { IngestService } from '../../src/ingest/ingest-service.js';
import type { SourceContext, SourceKind, SourceKindName } from '../../src/ingest/source.js';
import { sourceKinds } from '../../src/ingest/sources/index.js';
import type { RtmpSource } from '../../src/ingest/sources/rtmp/index.js';
import { TranscoderSupervisor } from '../../src/ingest/transcoder-supervisor.js';
import { createMetrics } from '../../src/metrics.js';
import { MemoryRenderQueue } from '../../src/queue/memory.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { captureLogger } from '../support/harness.js';

const log = pino({ level: 'silent' });

function config(streams: unknown[]): Config {
  return parseConfig({
    redisUrl: 'redis://127.0.0.1:1',
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    streams,
  });
}

function service(cfg: Config, kinds?: ConstructorParameters<typeof IngestService>[2]): IngestService {
  return new IngestService(
    cfg,
    { store: new MemoryStore(), queue: new MemoryRenderQueue(), metrics: createMetrics(), log },
    kinds,
  );
}

let ingest: IngestService | undefined;
afterEach(async () => {
  await ingest?.stop();
  ingest = undefined;
});

describe('ingest sources', () => {
  it('creates one source per configured kind and reports what each listens on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-src-'));
    ingest = service(
      config([
        { name: 'main', key: 'secret-key-1', ingest: { type: 'rtmp' } },
        { name: 'files', ingest: { type: 'watch', dir } },
      ]),
    );
    await ingest.start();
    expect(ingest.sources.map((s) => s.kind)).toEqual(['rtmp', 'watch']);
    const port = ingest.rtmpPort!;
    expect(port).toBeGreaterThan(0);
    expect(ingest.endpoints()).toEqual([
      { kind: 'rtmp', host: '127.0.0.1', port },
      { kind: 'watch', stream: 'files', dir },
    ]);
  });

  it('hands each kind only its own streams, without the service knowing the kinds', async () => {
    const seen: Array<{ kind: SourceKindName; streams: string[]; open: boolean }> = [];
    const events: string[] = [];
    const recording = <K extends SourceKindName>(name: K): SourceKind<K> => ({
      name,
      create: (streams, ctx: SourceContext) => {
        seen.push({ kind: name, streams: streams.map((s) => s.name), open: ctx.open });
        if (streams.length === 0) return undefined;
        return {
          kind: name,
          start: async () => void events.push(`start ${name}`),
          stop: async () => void events.push(`stop ${name}`),
          endpoints: () => [],
        };
      },
    });
    ingest = service(
      config([
        { name: 'a', ingest: { type: 'srt', port: 9001 } },
        { name: 'b', key: 'secret-key-2', ingest: { type: 'rtmp' } },
        { name: 'c', ingest: { type: 'srt', port: 9002 } },
      ]),
      { rtmp: recording('rtmp'), srt: recording('srt'), watch: recording('watch'), cmaf: recording('cmaf') },
    );
    await ingest.start();
    expect(seen).toEqual([
      { kind: 'rtmp', streams: ['b'], open: false },
      { kind: 'srt', streams: ['a', 'c'], open: false },
      { kind: 'watch', streams: [], open: false },
      { kind: 'cmaf', streams: [], open: false },
    ]);
    await ingest.stop();
    ingest = undefined;
    expect(events).toEqual(['start rtmp', 'start srt', 'stop rtmp', 'stop srt']);
  });

  it('RTMP: refuses an unknown app, a wrong key and a second publisher; the stream is free again after release', async () => {
    ingest = service(config([{ name: 'main', key: 'secret-key-1', ingest: { type: 'rtmp' } }]));
    await ingest.start();
    const rtmp = ingest.sources.find((s) => s.kind === 'rtmp') as RtmpSource;
    expect(await rtmp.authorize('other', 'secret-key-1')).toMatchObject({
      ok: false,
      code: 'NetStream.Publish.Denied',
    });
    expect(await rtmp.authorize('live', 'main')).toMatchObject({
      ok: false,
      code: 'NetStream.Publish.Unauthorized',
      reason: 'unknown stream key',
    });
    const first = await rtmp.authorize('live', 'secret-key-1');
    expect(first).toMatchObject({ ok: true, stream: 'main' });
    expect(await rtmp.authorize('live', 'secret-key-1')).toMatchObject({
      ok: false,
      code: 'NetStream.Publish.BadName',
      reason: 'stream "main" already has a publisher',
    });
    if (first.ok) await first.release();
    expect(await rtmp.authorize('live', 'secret-key-1')).toMatchObject({ ok: true, stream: 'main' });
  });

  it('RTMP on an open server: the key is the stream name and must be safe', async () => {
    ingest = service(config([]));
    await ingest.start();
    // CMAF ingest is open too (served through the ingest HTTP listener's mount).
    expect(ingest.sources.map((s) => s.kind)).toEqual(['rtmp', 'cmaf']);
    const rtmp = ingest.sources[0] as RtmpSource;
    expect(await rtmp.authorize('live', 'bad name!')).toMatchObject({
      ok: false,
      code: 'NetStream.Publish.BadName',
    });
    expect(await rtmp.authorize('live', 'demo_1')).toMatchObject({ ok: true, stream: 'demo_1' });
  });

  it('the registry maps every config ingest type to its kind', () => {
    for (const [type, kind] of Object.entries(sourceKinds)) expect(kind.name).toBe(type);
  });
});

describe('TranscoderSupervisor (real ffmpeg)', () => {
  const waitFor = async (cond: () => boolean, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('restarts a killed transcoder with the preamble and reports the exit; stop ends it for good', async () => {
    const metrics = createMetrics();
    const exits: Array<string | undefined> = [];
    let preambles = 0;
    const sup = new TranscoderSupervisor(
      {
        stream: 's',
        ffmpegPath: 'ffmpeg',
        // Waits on stdin until its input ends.
        args: () => ({
          args: ['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-f', 'null', '-'],
          outputs: [],
        }),
        metrics,
        log,
        inputPreamble: () => {
          preambles++;
          return [];
        },
      },
      { onOutput: () => undefined, onExit: (err) => exits.push(err?.signal ?? undefined) },
    );
    sup.start();
    const first = sup.pid;
    expect(first).toBeGreaterThan(0);
    sup.kill();
    await waitFor(() => sup.pid !== first, 5000);
    expect(exits).toEqual(['SIGKILL']);
    expect(preambles).toBe(2);
    expect((await metrics.ffmpegRestarts.get()).values[0]?.value).toBe(1);
    const second = sup.pid!;
    await sup.stop();
    expect(() => process.kill(second, 0)).toThrow();
    await new Promise((r) => setTimeout(r, 1000));
    expect(sup.pid).toBe(second);
    expect(exits).toHaveLength(1);
  });

  it('a source waiting for a killed transcoder to drain is released, and feeds the restarted one', async () => {
    // This ffmpeg never reads stdin (-nostdin): a write fills the pipe and reports saturation, as a slow
    // ffmpeg under load does. The RTMP source then pauses until drain; a SIGKILLed process never drains.
    const sup = new TranscoderSupervisor(
      {
        stream: 's',
        ffmpegPath: 'ffmpeg',
        args: () => ({
          args: [
            '-hide_banner',
            '-nostdin',
            '-loglevel',
            'error',
            '-re',
            '-f',
            'lavfi',
            '-i',
            'anullsrc',
            '-f',
            'null',
            '-',
          ],
          outputs: [],
        }),
        metrics: createMetrics(),
        log,
      },
      { onOutput: () => undefined, onExit: () => undefined },
    );
    sup.start();
    const first = sup.pid;
    let saturated = false;
    for (let i = 0; i < 64 && !saturated; i++) saturated = !sup.write(Buffer.alloc(64 * 1024));
    expect(saturated).toBe(true);
    let drained = 0;
    sup.onceDrain(() => drained++);
    expect(drained).toBe(0);
    sup.kill();
    await waitFor(() => drained > 0, 5000);
    await waitFor(() => sup.pid !== undefined && sup.pid !== first, 5000);
    expect(drained).toBe(1);
    // The new process's stdin takes writes again.
    expect(sup.write(Buffer.alloc(1024))).toBe(true);
    await sup.stop();
  });

  it('without restarts, a finished transcoder ends the source', async () => {
    const ended: string[] = [];
    const exits: unknown[] = [];
    const sup = new TranscoderSupervisor(
      {
        stream: 's',
        ffmpegPath: 'ffmpeg',
        args: () => ({
          args: [
            '-hide_banner',
            '-loglevel',
            'error',
            '-f',
            'lavfi',
            '-i',
            'nullsrc=d=0.1',
            '-f',
            'null',
            '-',
          ],
          outputs: [],
        }),
        metrics: createMetrics(),
        log,
        restartOnExit: false,
      },
      { onOutput: () => undefined, onExit: (err) => exits.push(err), onEnded: (r) => ended.push(r) },
    );
    sup.start();
    await waitFor(() => ended.length > 0, 10_000);
    expect(ended).toEqual(['source ended']);
    expect(exits).toEqual([undefined]);
    await sup.stop();
  });
});

describe('transcoder priority (config transcoderNice, real ffmpeg)', () => {
  const idle = () => ({
    args: ['-hide_banner', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-f', 'null', '-'],
    outputs: [],
  });

  it('every transcoder process, the restarted one too, runs at the configured niceness', async () => {
    const sup = new TranscoderSupervisor(
      { stream: 's', ffmpegPath: 'ffmpeg', nice: 7, args: idle, metrics: createMetrics(), log },
      { onOutput: () => undefined, onExit: () => undefined },
    );
    sup.start();
    const first = sup.pid!;
    expect(getPriority(first)).toBe(7);
    sup.kill();
    const end = Date.now() + 5000;
    while (sup.pid === first && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(sup.pid).not.toBe(first);
    expect(getPriority(sup.pid!)).toBe(7);
    await sup.stop();
  });

  it('a priority above the default is set where permitted, else one warning and the default', async () => {
    const { log: captured, lines } = captureLogger();
    const sup = new TranscoderSupervisor(
      { stream: 's', ffmpegPath: 'ffmpeg', nice: -3, args: idle, metrics: createMetrics(), log: captured },
      { onOutput: () => undefined, onExit: () => undefined },
    );
    sup.start();
    const warned = lines.filter((l) => String(l.msg).startsWith('transcoder priority not set'));
    // Root may raise a priority (CAP_SYS_NICE); anyone else may only lower it.
    const permitted = process.getuid?.() === 0;
    if (permitted) {
      expect(getPriority(sup.pid!)).toBe(-3);
      expect(warned).toHaveLength(0);
    } else {
      expect(getPriority(sup.pid!)).toBe(getPriority(process.pid));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ nice: -3 });
    }
    await sup.stop();
  });
});
