/**
 * Audio timing end to end (#14 item 3): an RTMP publish (a millisecond clock) through the real ingest; the audio
 * rendition it stores must be on a timeline counted in samples: every AAC frame 1024 ticks at 1/48000, the
 * presentation times stepping by exactly 1024 across part and segment boundaries, the first frame at the first
 * segment's tfdt, and the audio where the video is (a flash and a tone burst published together come out
 * together, within a video frame). The same for SRT (MPEG-TS); the watch folder feeds the same transcoder
 * arguments. ffprobe and ffmpeg read the stored bytes; nothing is mocked.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CmafStreamReader, objectName, type SegmentEntry } from '../../src/core/index.js';
import { freePort } from '../../tools/process/redis-server.js';
import { type IngestHarness, sleep, startIngest, testConfig, waitFor } from '../support/harness.js';

const FPS = 30;
const AAC_FRAME = 1024;

let h: IngestHarness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * An RTMP publisher like a camera's: H.264 + AAC in FLV (millisecond timestamps), paced in real time. Every
 * whole second the picture flashes white for one frame and a 10 ms 1 kHz burst sounds; silence otherwise.
 * audioDelaySec: the audio starts that much after the video (bursts still on the whole seconds).
 */
function publish(output: string[], seconds: number, audioDelaySec = 0) {
  return run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=640x360:r=${FPS}:d=${seconds},drawbox=c=white:t=fill:enable='lt(mod(t,1),0.02)'`,
    ...(audioDelaySec ? ['-itsoffset', String(audioDelaySec)] : []),
    '-f',
    'lavfi',
    '-i',
    `aevalsrc='if(lt(mod(t+${audioDelaySec},1),0.01),0.8*sin(2*PI*1000*t),0)':s=48000:d=${seconds - audioDelaySec}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    String(FPS),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    ...output,
  ]);
}

/** The rendition's init and every stored segment, concatenated (one init: a single publish, no restart). */
async function renditionBytes(
  h: IngestHarness,
  stream: string,
  rendition: string,
): Promise<{ segs: SegmentEntry[]; timescale: number; bytes: Buffer }> {
  const state = await h.store.streams.readState(stream);
  const info = state.renditions.find((r) => r.name === rendition);
  expect(info, `${rendition} described`).toBeDefined();
  const { snaps } = await h.store.media.loadTimelines(
    stream,
    { ...state, renditions: [info!] },
    10_000,
    10_000,
  );
  const segs = snaps.get(rendition)!.segments;
  expect(segs.length).toBeGreaterThanOrEqual(10);
  expect(new Set(segs.map((s) => s.initId)).size).toBe(1);
  expect(segs.some((s) => s.discontinuity && s !== segs[0])).toBe(false);
  const init = await h.store.media.getObject(stream, rendition, objectName.init(segs[0]!.initId));
  expect(init, `${rendition} init`).not.toBeNull();
  const parts: Buffer[] = [init!];
  for (const s of segs) {
    const b = await h.store.media.getObject(stream, rendition, objectName.segment(s.msn));
    expect(b, `${rendition} segment ${s.msn}`).not.toBeNull();
    parts.push(b!);
  }
  return { segs, timescale: info!.timescale, bytes: Buffer.concat(parts) };
}

/** Where ffmpeg's silencedetect hears sound start after at least 0.3 s of silence (stream seconds). */
async function soundStarts(file: string): Promise<number[]> {
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-nostats',
    '-i',
    file,
    '-af',
    'silencedetect=noise=0.05:d=0.3',
    '-f',
    'null',
    '-',
  ]);
  expect(r.code).toBe(0);
  return [...r.stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]));
}

/** Presentation times (s) of the frames that are mostly white (negated: mostly black). */
async function flashes(file: string): Promise<number[]> {
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-nostats',
    '-i',
    file,
    '-vf',
    'negate,blackframe=amount=90:threshold=32',
    '-f',
    'null',
    '-',
  ]);
  expect(r.code).toBe(0);
  const white = [...r.stderr.matchAll(/pblack:\d+ pts:\d+ t:([\d.]+)/g)].map((m) => Number(m[1]));
  // A low-bitrate encoder may take a frame to fade a flash out: each flash starts with its first white frame.
  return white.filter((t, i) => i === 0 || t - white[i - 1]! > 0.5);
}

/**
 * The stored audio rendition of `stream` is on a sample-counted timeline and in sync with its 240p video.
 * Returns the audio - video offsets (s) of the flashes.
 */
async function checkAudioTiming(h: IngestHarness, stream: string): Promise<number[]> {
  await waitFor(
    async () => (await h.store.streams.readState(stream)).state === 'idle',
    15_000,
    'session end',
  );
  dir = mkdtempSync(join(tmpdir(), 'ws-audio-'));

  const audio = await renditionBytes(h, stream, 'audio');
  expect(audio.timescale).toBe(48_000);
  const audioFile = join(dir, 'audio.mp4');
  writeFileSync(audioFile, audio.bytes);

  // The trun sample durations as stored: every chunk holds whole 1024-sample frames, back to back.
  const reader = new CmafStreamReader();
  const events = reader.push(audio.bytes);
  reader.end();
  const chunks = events.flatMap((e) => (e.kind === 'chunk' ? [e.info] : []));
  expect(chunks.length).toBeGreaterThan(40);
  chunks.slice(0, -1).forEach((c, i) => {
    expect(c.durationTicks, `chunk ${i} (${c.sampleCount} samples)`).toBe(c.sampleCount * AAC_FRAME);
    expect(chunks[i + 1]!.baseMediaDecodeTime).toBe(c.baseMediaDecodeTime + c.durationTicks);
  });

  // ffprobe over init + segments: every packet 1024 long, presentation times stepping by exactly 1024.
  const probe = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'a:0',
    '-show_entries',
    'packet=pts,duration',
    '-of',
    'json',
    audioFile,
  ]);
  expect(probe.code, probe.stderr).toBe(0);
  const packets = (JSON.parse(probe.stdout) as { packets: Array<{ pts: number; duration?: number }> })
    .packets;
  expect(packets.length).toBeGreaterThan(10 * 47);
  // The first frame sits at the first segment's tfdt: nothing missing at the start.
  expect(packets[0]!.pts).toBe(audio.segs[0]!.startTicks);
  const steps = new Map<number, number>();
  for (let i = 1; i < packets.length; i++) {
    const step = packets[i]!.pts - packets[i - 1]!.pts;
    steps.set(step, (steps.get(step) ?? 0) + 1);
  }
  expect(Object.fromEntries(steps)).toEqual({ [AAC_FRAME]: packets.length - 1 });
  // The last frame of the stream may be cut short by the end of the input; every other one is whole.
  for (const p of packets.slice(1, -1)) expect(p.duration).toBe(AAC_FRAME);
  // Every segment starts on a frame boundary of that one timeline.
  const ptsSet = new Set(packets.map((p) => p.pts));
  for (const s of audio.segs) expect(ptsSet.has(s.startTicks), `segment ${s.msn} start`).toBe(true);

  // A/V: the video starts where the audio starts, and each flash is heard within a video frame.
  const video = await renditionBytes(h, stream, '240p');
  const videoFile = join(dir, 'video.mp4');
  writeFileSync(videoFile, video.bytes);
  expect(video.segs[0]!.msn).toBe(audio.segs[0]!.msn);
  const audioStart = audio.segs[0]!.startTicks / audio.timescale;
  const videoStart = video.segs[0]!.startTicks / video.timescale;
  expect(Math.abs(audioStart - videoStart)).toBeLessThan(1 / FPS);

  const sounds = await soundStarts(audioFile);
  // silencedetect needs 0.3 s of silence before a burst: compare from the second flash on.
  const flashTimes = (await flashes(videoFile)).filter((t) => t > videoStart + 0.5);
  expect(flashTimes.length).toBeGreaterThanOrEqual(10);
  expect(sounds.length).toBeGreaterThanOrEqual(flashTimes.length);
  const offsets = flashTimes.map((t) => {
    const nearest = sounds.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a), Infinity);
    return nearest - t;
  });
  for (const o of offsets) expect(Math.abs(o)).toBeLessThan(1 / FPS);
  console.log(
    `audio-timing ${stream}: ${packets.length} AAC frames, ${audio.segs.length} segments; A/V offsets (audio - video, ms):`,
    offsets.map((o) => Math.round(o * 1000)).join(' '),
  );
  return offsets;
}

describe('audio timing', () => {
  it('RTMP audio comes out in constant 1024-sample frames, from its first segment on, in sync with the video', async () => {
    h = await startIngest(testConfig());
    const pub = await publish(['-f', 'flv', h.rtmpUrl('tone')], 15);
    expect(pub.code, pub.stderr).toBe(0);
    await checkAudioTiming(h, 'tone');
  });

  // A 90 kHz clock stamps 1024-sample frames exactly; what SRT adds here is audio starting 0.3 s after the video
  // (the old arguments zeroed each output on its own first packet: the audio came out 0.3 s early).
  it('SRT (MPEG-TS) audio that starts after the video: silence up to it, then the same timeline', async () => {
    const port = await freePort();
    h = await startIngest(
      testConfig({ streams: [{ name: 'srtone', ingest: { type: 'srt', port, latencyMs: 120 } }] }),
    );
    await sleep(500);
    const pub = await publish(['-f', 'mpegts', `srt://127.0.0.1:${port}?latency=120000`], 15, 0.3);
    expect(pub.code, pub.stderr).toBe(0);
    await checkAudioTiming(h, 'srtone');
  });
});
