/**
 * Redundant inputs (#10 part 3), one of two senders killed mid-stream, watched by a player-like viewer
 * (tools/viewer) through Varnish:
 * - DASH-IF CMAF ingest: two ffmpeg senders with timestamp-aligned fragments on the same paths; the first copy
 *   of each fragment wins; the leader is SIGKILLed and the other carries on with no stall over a second, no
 *   404, no discontinuity.
 * - RTMP: a backup publisher (`?role=backup`) in standby takes over when the primary is SIGKILLed.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { type EmbeddedCdn, startVarnishCdn } from '../../tools/process/varnish.js';
import { acceptance, longestGap, summary, Viewer } from '../../tools/viewer/viewer.js';
import type { CmafSource } from '../../src/ingest/sources/cmaf/index.js';
import { type NodeHandle, startNode } from '../../workers/compose.js';
import { cmafSender } from '../support/cmaf-sender.js';
import { captureLogger, type Encoder, encoder, sleep, testConfig, waitFor } from '../support/harness.js';
import { get, m3u8 } from '../support/player.js';

const template = fileURLToPath(new URL('../../deploy/varnish/wellspring.vcl.template', import.meta.url));
const CMAF_KEY = 'redundant-cmaf-key';
const RTMP_KEY = 'redundant-rtmp-key';
let node: NodeHandle;
let cdn: EmbeddedCdn;
let lines: Array<Record<string, unknown>>;
const encoders: Encoder[] = [];
const viewers: Viewer[] = [];

beforeAll(async () => {
  const config = testConfig({
    streams: [
      { name: 'red', key: CMAF_KEY, ingest: { type: 'cmaf', tracks: ['video', 'audio'] } },
      { name: 'pair', key: RTMP_KEY, ingest: { type: 'rtmp' } },
    ],
  });
  const cap = captureLogger();
  lines = cap.lines;
  node = await startNode(config, ['ingest', 'manifest', 'reader'], cap.log, createMetrics());
  cdn = await startVarnishCdn([node.httpPort!], template);
});

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.stop()));
  await Promise.all(encoders.map((e) => e.stop()));
  await cdn?.stop();
  await node?.stop();
});

const live = (stream: string, rendition: string) =>
  waitFor(
    async () => (await get(`${cdn.url}/live/${stream}/${rendition}/index.m3u8`)).status === 200,
    30_000,
    `${stream} live`,
  );

describe('redundant inputs', () => {
  it('DASH-IF: two aligned CMAF senders, the leader killed: no stall over 1 s, no 404, no discontinuity', async () => {
    const base = `http://127.0.0.1:${node.httpIngestPort}/ingest/red`;
    // Same source, same settings: the same tfdt for the same media. The second starts 300 ms later (it lags).
    const a = cmafSender({ base, query: `?key=${CMAF_KEY}`, seconds: 40 });
    encoders.push(a);
    await sleep(300);
    const b = cmafSender({ base, query: `?key=${CMAF_KEY}`, seconds: 40 });
    encoders.push(b);
    await live('red', 'video');
    const cmaf = node.ingest!.sources.find((s) => s.kind === 'cmaf') as CmafSource;
    await waitFor(() => (cmaf.publication('red')?.duplicates ?? 0) > 20, 20_000, 'duplicates');
    const v = new Viewer({ url: `${cdn.url}/live/red/video/index.m3u8` }).start();
    viewers.push(v);
    await sleep(4000);
    const killedAt = v.mark('leader SIGKILLed');
    a.child.kill('SIGKILL');
    await sleep(6000);
    const rep = await v.stop();
    const pub = cmaf.publication('red')!;
    console.log(
      JSON.stringify({
        dashIfRedundancy: summary(rep),
        duplicates: pub.duplicates,
        misaligned: pub.misaligned,
      }),
    );
    expect(acceptance(rep, { noErrors: true, maxStall: { ms: 1000 } })).toEqual([]);
    expect(rep.discontinuities).toBe(0);
    expect(rep.mediaArrivals.filter((t) => t > killedAt + 1000).length).toBeGreaterThan(10);
    // Aligned: every dropped fragment started exactly where a kept one did; nothing was taken as a time jump.
    expect(pub.duplicates).toBeGreaterThan(20);
    expect(pub.misaligned).toBe(0);
    expect(lines.filter((l) => l.msg === 'CMAF track time jumped: discontinuity')).toEqual([]);
    expect(lines.some((l) => l.msg === 'duplicate CMAF fragment dropped')).toBe(true);
    // The survivor is still feeding the stream.
    expect(node.ingest!.sessions.has('red')).toBe(true);
    await b.stop();
  }, 90_000);

  it('RTMP: a backup in standby takes over when the primary is killed; sequences only increase', async () => {
    const url = `rtmp://127.0.0.1:${node.rtmpPort}/live/${RTMP_KEY}`;
    const primary = encoder(['-f', 'flv', url], 60, '320x240');
    encoders.push(primary);
    await live('pair', '360p');
    const backup = encoder(['-f', 'flv', `${url}?role=backup`], 60, '320x240');
    encoders.push(backup);
    await waitFor(
      () => lines.some((l) => l.msg === 'RTMP backup publisher in standby'),
      15_000,
      'the backup in standby',
    );
    const v = new Viewer({ url: `${cdn.url}/live/pair/360p/index.m3u8` }).start();
    viewers.push(v);
    await sleep(4000);
    const killedAt = v.mark('primary SIGKILLed');
    primary.child.kill('SIGKILL');
    await waitFor(
      () => lines.some((l) => l.msg === 'RTMP backup publisher takes over'),
      10_000,
      'the takeover',
    );
    await sleep(6000);
    const rep = await v.stop();
    // The backup's media starts at the discontinuity: the first segment the DVR playlist marks with one.
    const dvr = m3u8((await get(`${cdn.url}/live/pair/360p/dvr.m3u8`)).body.toString());
    const at = (dvr.segments as Array<{ discontinuity?: boolean }>).findIndex((s) => s.discontinuity);
    expect(at).toBeGreaterThanOrEqual(0);
    const backupMsn = dvr.mediaSequence + at;
    const msnOf = (u: string) => Number(/(?:part|seg)-(\d+)/.exec(u)?.[1] ?? -1);
    const firstBackup = rep.requests
      .filter(
        (r) =>
          (r.kind === 'part' || r.kind === 'hint' || r.kind === 'segment') &&
          r.status === 200 &&
          msnOf(r.url) >= backupMsn,
      )
      .reduce((m, r) => Math.min(m, r.doneAt), Infinity);
    const took = lines.find((l) => l.msg === 'RTMP backup publisher takes over')!;
    const measured = {
      // Kill -> the backup claims the stream (the primary's session flushed and released first).
      claimedMs: (took.time as number) - killedAt,
      // Kill -> the viewer (through Varnish) holds the backup's first part.
      backupMediaMs: firstBackup - killedAt,
      stallAfterKillMs: longestGap(rep.mediaArrivals, killedAt, rep.endedAt).ms,
    };
    console.log(JSON.stringify({ rtmpBackup: summary(rep), ...measured }));
    expect(Number.isFinite(firstBackup)).toBe(true);
    expect(
      acceptance(rep, {
        encoderAway: [{ from: killedAt, to: firstBackup }],
        recoveries: [{ after: killedAt, withinMs: 2000, what: 'media from the backup' }],
        minDiscontinuities: 1,
      }),
    ).toEqual([]);
    expect(rep.backwards).toEqual([]);
    expect(backup.child.exitCode).toBeNull();
  }, 120_000);
});
