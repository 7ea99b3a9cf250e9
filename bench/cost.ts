/**
 * npm run bench:cost — what a stream costs: CPU (cores, from each process's CPU time in /proc) and memory (RSS)
 * of the transcoder ffmpeg, the ingest, the manifest worker, the reader and redis-server, per stream, for the
 * default ladder and for passthrough (a `passthrough` rung: ffmpeg copies the source video, AAC re-encoded), with
 * 1, 2 and 4 concurrent streams, each BENCH_SECONDS (default 60) of steady state; every role in its own process.
 * Then the demo (`workers/demo.ts`: stamped source + default ladder + all roles + its redis-server) as a whole,
 * and the quality a preset or keyframe interval costs (PSNR/SSIM against the source, ffmpeg's own filters).
 *
 * The machine is shared: CPU is CPU time of our processes, not the machine's idle time; the 1-minute load
 * average is recorded beside every figure so a reader can judge the noise.
 *
 * Env: BENCH_SECONDS (60), BENCH_STREAMS ("1,2,4"), BENCH_LADDERS ("default,passthrough"), BENCH_PARTS
 * ("streams,demo,quality"), BENCH_PRESET (x264 preset of every default rung), BENCH_KEYFRAME_SEC.
 * Writes out/cost/report.json and prints it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { track } from '../src/adapters/process/children.js';
import { DEFAULT_LADDER } from '../src/config.js';
import { cpuSeconds, descendants, redisInfo, rssBytes } from '../tools/load/observe.js';
import { startOrigin } from '../tools/load/stack.js';
import { freePort } from '../tools/process/net.js';
import { summarize } from './stats.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const COUNTS = (process.env.BENCH_STREAMS ?? '1,2,4').split(',').map(Number);
const LADDERS = (process.env.BENCH_LADDERS ?? 'default,passthrough').split(',');
const PARTS = (process.env.BENCH_PARTS ?? 'streams,demo,quality').split(',');
const PRESET = process.env.BENCH_PRESET;
const KEYFRAME_SEC = process.env.BENCH_KEYFRAME_SEC ? Number(process.env.BENCH_KEYFRAME_SEC) : undefined;
const WARMUP_SEC = 10;
const SEGMENT_SEC = 2;
const PART_SEC = 0.2;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load1 = (): number => os.loadavg()[0]!;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const mb = (b: number): number => Math.round(b / 1e5) / 10;

function ladderFor(kind: string): unknown[] {
  if (kind === 'passthrough') return [{ name: 'source', passthrough: true }];
  return DEFAULT_LADDER.map((r) => ({
    ...r,
    ...(PRESET ? { preset: PRESET } : {}),
    ...(KEYFRAME_SEC ? { keyframeSec: KEYFRAME_SEC } : {}),
  }));
}

function stopGroup(c: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    c.once('exit', () => resolve());
    try {
      process.kill(-c.pid!, sig);
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000).unref();
  });
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** The newest media position of a rendition's LL-HLS playlist, in seconds of media since the stream started. */
async function mediaSeconds(url: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  let sec = 0;
  for (const m of text.matchAll(/#EXTINF:([\d.]+)/g)) sec += Number(m[1]);
  // Parts of the open segment (after the last EXTINF).
  const tail = text.slice(text.lastIndexOf('#EXTINF'));
  for (const m of tail.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)) sec += Number(m[1]);
  return seq * SEGMENT_SEC + sec;
}

interface Sampler {
  roles: Record<string, () => number[]>;
}

/** Samples CPU time and RSS of each role's processes once a second; returns per-second series. */
async function sampleRoles(
  s: Sampler,
  seconds: number,
): Promise<{
  cores: Record<string, number[]>;
  rss: Record<string, number[]>;
  totalCores: number[];
  load1: number[];
}> {
  const roles = Object.keys(s.roles);
  const cores: Record<string, number[]> = Object.fromEntries(roles.map((r) => [r, []]));
  const rss: Record<string, number[]> = Object.fromEntries(roles.map((r) => [r, []]));
  const totalCores: number[] = [];
  const loads: number[] = [];
  const cpuOf = (pids: number[]): number => pids.reduce((n, p) => n + (cpuSeconds(p) || 0), 0);
  let pids = roles.map((r) => s.roles[r]!());
  let prev = pids.map(cpuOf);
  let t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await sleep(1000);
    const t1 = performance.now();
    const dt = (t1 - t0) / 1000;
    // The same pids as the previous sample (a process that appeared in between is counted from the next one).
    const now = pids.map(cpuOf);
    let total = 0;
    roles.forEach((r, i) => {
      const c = Math.max(0, now[i]! - prev[i]!) / dt;
      cores[r]!.push(c);
      total += c;
      rss[r]!.push(pids[i]!.reduce((n, p) => n + (rssBytes(p) || 0), 0));
    });
    totalCores.push(total);
    loads.push(load1());
    pids = roles.map((r) => s.roles[r]!());
    prev = pids.map(cpuOf);
    t0 = performance.now();
  }
  return { cores, rss, totalCores, load1: loads };
}

const coreStats = (xs: number[]): Record<string, number> => {
  const s = summarize(xs);
  return { p50: s.p50, p95: s.p95, p99: s.p99, mean: s.mean };
};
const rssStats = (xs: number[]): Record<string, number> => {
  const s = summarize(xs.map(mb));
  return { p50: s.p50, p95: s.p95, p99: s.p99, max: s.max };
};

async function streamsRun(ladder: string, n: number): Promise<Record<string, unknown>> {
  // The load stack's origin processes (tools/load/stack.ts), with the config's window defaults.
  const stack = await startOrigin({
    segmentSec: SEGMENT_SEC,
    partSec: PART_SEC,
    ladder: ladderFor(ladder),
    cdn: false,
    keyPrefix: 'cost',
  });
  const { redis, ingest, manifest, reader, sources } = stack;
  try {
    const mem0 = Number((await redisInfo(redis.port)).used_memory);
    for (let i = 0; i < n; i++) stack.addSource(`c${i}`, { width: 1280, height: 720 });
    const rendition = ladder === 'passthrough' ? 'source' : '360p';
    const playlist = (i: number): string =>
      `http://127.0.0.1:${stack.readerPort}/live/c${i}/${rendition}/index.m3u8`;
    for (let i = 0; i < n; i++) await stack.waitForPlaylist(`c${i}`, rendition, '#EXTINF');
    await sleep(WARMUP_SEC * 1000);
    const ffmpegs = (): number[] =>
      descendants(ingest.pid!).filter((p) => /(^|\/)ffmpeg$/.test(cmdline(p).split(' ')[0]!));
    const media0 = await Promise.all(sources.map((_, i) => mediaSeconds(playlist(i))));
    const redis0 = await redisInfo(redis.port);
    const t0 = performance.now();
    const sampled = await sampleRoles(
      {
        roles: {
          transcoder: ffmpegs,
          ingest: () => [ingest.pid!],
          manifest: () => [manifest.pid!],
          reader: () => [reader.pid!],
          redis: () => [redis.pid],
          sources: () => sources.map((s) => s.pid!),
        },
      },
      SECONDS,
    );
    const elapsed = (performance.now() - t0) / 1000;
    const redis1 = await redisInfo(redis.port);
    const media1 = await Promise.all(sources.map((_, i) => mediaSeconds(playlist(i))));
    const speed = media1.map((m, i) => r3((m - media0[i]!) / elapsed));
    const origin = ['transcoder', 'ingest', 'manifest', 'reader', 'redis'];
    const perSecondOrigin = sampled.cores.transcoder!.map((_, k) =>
      origin.reduce((t, r) => t + sampled.cores[r]![k]!, 0),
    );
    const meanOf = (r: string): number => summarize(sampled.cores[r]!).mean;
    const memEnd = Number(redis1.used_memory);
    return {
      ladder,
      streams: n,
      measuredSeconds: Math.round(elapsed),
      // Media seconds each stream's playlist advanced per wall second: 1.0 is real time, below it falls behind.
      realtimeRatio: speed,
      coresPerSecond: Object.fromEntries(Object.entries(sampled.cores).map(([r, xs]) => [r, coreStats(xs)])),
      originCores: coreStats(perSecondOrigin),
      originCoresPerStream: r3(summarize(perSecondOrigin).mean / n),
      // CPU seconds per second of media a stream produced: the cost at real time, also when a loaded machine
      // slowed the chain below it (cores / realtimeRatio).
      originCpuSecPerMediaSec: r3(
        summarize(perSecondOrigin).mean / n / (speed.reduce((a, b) => a + b, 0) / speed.length),
      ),
      cpuSecPerMediaSecByRole: Object.fromEntries(
        origin.map((r) => [r, r3(meanOf(r) / n / (speed.reduce((a, b) => a + b, 0) / speed.length))]),
      ),
      transcoderCoresPerStream: r3(meanOf('transcoder') / n),
      rssMb: Object.fromEntries(Object.entries(sampled.rss).map(([r, xs]) => [r, rssStats(xs)])),
      transcoderRssMbPerStream: r3(summarize(sampled.rss.transcoder!.map(mb)).p50 / n),
      redis: {
        opsPerSec: Math.round(
          (Number(redis1.total_commands_processed) - Number(redis0.total_commands_processed)) / elapsed,
        ),
        opsPerSecPerStream: Math.round(
          (Number(redis1.total_commands_processed) - Number(redis0.total_commands_processed)) / elapsed / n,
        ),
        usedMemoryMb: mb(memEnd),
        memoryMbPerStream: r3(mb(memEnd - mem0) / n),
      },
      load1: {
        start: sampled.load1[0],
        p50: summarize(sampled.load1).p50,
        max: summarize(sampled.load1).max,
      },
    };
  } finally {
    await stack.stop();
  }
}

/** `npm run demo` as a user runs it, measured as a process tree (node, its redis-server, source and ladder). */
async function demoRun(): Promise<Record<string, unknown>> {
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const ingestPort = await freePort();
  const demo = track(
    spawn(process.execPath, ['--import', 'tsx', 'workers/demo.ts'], {
      env: {
        ...process.env,
        HTTP_PORT: String(httpPort),
        RTMP_PORT: String(rtmpPort),
        HTTP_INGEST_PORT: String(ingestPort),
        LOG_LEVEL: 'warn',
        REDIS_URL: '',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    }),
  );
  try {
    const playlist = `http://127.0.0.1:${httpPort}/live/demo/360p/index.m3u8`;
    for (let k = 0; ; k++) {
      const r = await fetch(playlist).catch(() => undefined);
      if (r?.status === 200 && (await r.text()).includes('#EXTINF')) break;
      if (k > 300) throw new Error('the demo never came up');
      await sleep(200);
    }
    await sleep(WARMUP_SEC * 1000);
    const kids = (): number[] => descendants(demo.pid!);
    const byName = (re: RegExp) => (): number[] => kids().filter((p) => re.test(cmdline(p)));
    const media0 = await mediaSeconds(playlist);
    const t0 = performance.now();
    const sampled = await sampleRoles(
      {
        roles: {
          'node (ingest+manifest+reader+source frames)': () => [demo.pid!],
          'ladder ffmpeg': byName(/^\S*ffmpeg .*filter_complex/),
          'source ffmpeg': byName(/^\S*ffmpeg .*rawvideo/),
          'redis-server': byName(/redis-server/),
        },
      },
      SECONDS,
    );
    const elapsed = (performance.now() - t0) / 1000;
    const media1 = await mediaSeconds(playlist);
    const cores = os.cpus().length;
    const total = summarize(sampled.totalCores);
    return {
      what: 'npm run demo (workers/demo.ts): stamped 720p30 source, default ladder, all roles, embedded redis-server; no viewer',
      measuredSeconds: Math.round(elapsed),
      realtimeRatio: r3((media1 - media0) / elapsed),
      // The demo's CPU at real time when the machine slowed it (total cores / realtimeRatio).
      totalCpuSecPerMediaSec: r3(summarize(sampled.totalCores).mean / ((media1 - media0) / elapsed)),
      coresPerSecond: Object.fromEntries(Object.entries(sampled.cores).map(([r, xs]) => [r, coreStats(xs)])),
      totalCores: coreStats(sampled.totalCores),
      machineCores: cores,
      // What the demo leaves of this machine (its processes' CPU time, whatever else runs beside it).
      idleShareLeft: {
        p50: r3(1 - total.p50 / cores),
        p95: r3(1 - total.p95 / cores),
        p99: r3(1 - total.p99 / cores),
      },
      rssMb: Object.fromEntries(Object.entries(sampled.rss).map(([r, xs]) => [r, rssStats(xs)])),
      load1: { p50: summarize(sampled.load1).p50, max: summarize(sampled.load1).max },
    };
  } finally {
    await stopGroup(demo, 'SIGINT');
  }
}

/** The transcoder's filter graph for the default ladder (src/adapters/ffmpeg/args.ts). */
const LADDER_GRAPH =
  '[0:v]fps=30,split=3[v0][v1][v2];[v0]scale=-2:720:flags=bilinear,format=yuv420p[o0];[v1]scale=-2:480:flags=bilinear,format=yuv420p[o1];[v2]scale=-2:360:flags=bilinear,format=yuv420p[o2]';

/** CPU seconds (user+sys) an ffmpeg run took, from the shell's `times` of its children. */
async function ffmpegCpu(args: string[]): Promise<number> {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const { stdout } = await run('bash', ['-c', `ffmpeg ${quoted} </dev/null >/dev/null 2>&1; times`], {
    maxBuffer: 1 << 20,
  });
  // `times` prints two lines: the shell's own user/sys, then its children's.
  const line = stdout.trim().split('\n').pop()!;
  const [u, s] = line.split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return u! + s!;
}

/** PSNR (average, dB) and SSIM (All) of `encoded` against `reference` (same size). */
async function quality(encoded: string, reference: string): Promise<{ psnr: number; ssim: number }> {
  const { stderr } = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-i',
      encoded,
      '-i',
      reference,
      '-lavfi',
      '[0:v]split[a][b];[1:v]split[c][d];[a][c]psnr;[b][d]ssim',
      '-f',
      'null',
      '-',
    ],
    { maxBuffer: 16 << 20 },
  );
  const psnr = Number(/PSNR .* average:([\d.inf]+)/.exec(stderr)?.[1]);
  const ssim = Number(/SSIM .* All:([\d.]+)/.exec(stderr)?.[1]);
  return { psnr: Math.round(psnr * 100) / 100, ssim: Math.round(ssim * 10000) / 10000 };
}

/**
 * The ladder's x264 settings (as src/adapters/ffmpeg/args.ts gives them: zerolatency, no B-frames, fixed GOP,
 * one thread) on 10 s clips, per preset and keyframe interval: CPU seconds of the whole three-rung ladder, and
 * PSNR/SSIM of the 720p rung against the source and of the 360p rung against the source scaled to 360p.
 */
async function qualityRun(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(os.tmpdir(), 'ws-quality-'));
  const clips: Record<string, string> = {
    // The demo's kind of picture: test pattern, moving, with text.
    testsrc2: 'testsrc2=size=1280x720:rate=30:duration=10',
    // Hard to encode: a zooming fractal (fine detail everywhere) with film grain.
    'mandelbrot+grain': 'mandelbrot=size=1280x720:rate=30,trim=duration=10,noise=alls=12:allf=t',
  };
  const variants: Array<{ preset: string; keyframeSec: number }> = [
    { preset: 'ultrafast', keyframeSec: 2 },
    { preset: 'superfast', keyframeSec: 2 },
    { preset: 'veryfast', keyframeSec: 2 },
    { preset: 'faster', keyframeSec: 2 },
    { preset: 'veryfast', keyframeSec: 1 },
    { preset: 'veryfast', keyframeSec: 0.4 },
    { preset: 'veryfast', keyframeSec: 0.2 },
  ];
  const out: Array<Record<string, unknown>> = [];
  try {
    for (const [clip, graph] of Object.entries(clips)) {
      const src = join(dir, `${clip}.mkv`);
      const src360 = join(dir, `${clip}-360.mkv`);
      await run('ffmpeg', [
        '-hide_banner',
        '-y',
        '-f',
        'lavfi',
        '-i',
        graph,
        '-pix_fmt',
        'yuv420p',
        '-c:v',
        'libx264',
        '-qp',
        '0',
        '-preset',
        'ultrafast',
        src,
      ]);
      await run('ffmpeg', [
        '-hide_banner',
        '-y',
        '-i',
        src,
        '-vf',
        'scale=-2:360:flags=bicubic',
        '-c:v',
        'libx264',
        '-qp',
        '0',
        '-preset',
        'ultrafast',
        src360,
      ]);
      // Reference in the same run: decoding the lossless clip and scaling it three ways, nothing encoded.
      const decodeCpu = await ffmpegCpu([
        '-hide_banner',
        '-threads',
        '1',
        '-i',
        src,
        '-filter_complex',
        LADDER_GRAPH,
        '-map',
        '[o0]',
        '-f',
        'null',
        '-',
        '-map',
        '[o1]',
        '-f',
        'null',
        '-',
        '-map',
        '[o2]',
        '-f',
        'null',
        '-',
      ]);
      out.push({ clip, preset: 'none (decode and scale only)', ladderCoresRealtime: r3(decodeCpu / 10) });
      for (const v of variants) {
        const gop = String(Math.round(v.keyframeSec * 30));
        const x264 = (kbps: number): string[] => [
          '-c:v',
          'libx264',
          '-preset',
          v.preset,
          '-tune',
          'zerolatency',
          '-profile:v',
          'high',
          '-b:v',
          `${kbps}k`,
          '-maxrate',
          `${Math.round(kbps * 1.1)}k`,
          '-bufsize',
          `${kbps}k`,
          '-g',
          gop,
          '-keyint_min',
          gop,
          '-sc_threshold',
          '0',
          '-bf',
          '0',
          '-force_key_frames',
          `expr:gte(t,n_forced*${v.keyframeSec}-0.001)`, // as the ladder (src/adapters/ffmpeg/args.ts),
          '-threads',
          '1',
        ];
        const o720 = join(dir, 'o720.mp4');
        const o480 = join(dir, 'o480.mp4');
        const o360 = join(dir, 'o360.mp4');
        const cpu = await ffmpegCpu([
          '-hide_banner',
          '-y',
          '-threads',
          '1',
          '-i',
          src,
          '-filter_complex',
          LADDER_GRAPH,
          '-map',
          '[o0]',
          ...x264(2500),
          o720,
          '-map',
          '[o1]',
          ...x264(1200),
          o480,
          '-map',
          '[o2]',
          ...x264(700),
          o360,
        ]);
        const q720 = await quality(o720, src);
        const q360 = await quality(o360, src360);
        out.push({
          clip,
          preset: v.preset,
          keyframeSec: v.keyframeSec,
          // 10 s of media: CPU seconds / 10 = cores to run the ladder in real time (decode of the source included).
          ladderCoresRealtime: r3(cpu / 10),
          psnr720: q720.psnr,
          ssim720: q720.ssim,
          psnr360: q360.psnr,
          ssim360: q360.ssim,
          load1: r3(load1()),
        });
        process.stderr.write(`quality ${JSON.stringify(out[out.length - 1])}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    config:
      "10 s clips 1280x720 30 fps (lossless reference), the default ladder 720p 2500k / 480p 1200k / 360p 700k with the transcoder's x264 settings, one process, one decoder and one x264 thread per rung",
    rows: out,
  };
}

const report: Record<string, unknown> = {
  bench: 'cost',
  machine: {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memGb: Math.round(os.totalmem() / 1e8) / 10,
    node: process.version,
  },
  config: {
    secondsPerRun: SECONDS,
    warmupSec: WARMUP_SEC,
    source:
      "ffmpeg lavfi testsrc2 1280x720 30 fps + tone, x264 ultrafast zerolatency 4 Mbit/s, RTMP (one process per stream; reported apart, not part of a stream's cost)",
    ladders: {
      default: `720p 2500k / 480p 1200k / 360p 700k, x264 ${PRESET ?? 'superfast'} (DEFAULT_LADDER), one thread per rung, keyframe every ${KEYFRAME_SEC ?? SEGMENT_SEC} s + AAC 128k`,
      passthrough: 'one rung { passthrough: true }: source H.264 copied (-c:v copy), AAC 128k re-encoded',
    },
    segmentSec: SEGMENT_SEC,
    partSec: PART_SEC,
    processes:
      'redis-server, workers/ingest.ts (+ one ffmpeg per stream), workers/manifest.ts, workers/reader.ts (no viewers)',
    sampling:
      'CPU time (utime+stime from /proc/PID/stat) and VmRSS of each role once a second; cores = CPU seconds / wall seconds',
  },
  load1AtStart: r3(load1()),
  runs: [] as unknown[],
};
const outDir = join(process.cwd(), 'out', 'cost');
mkdirSync(outDir, { recursive: true });
const save = (): void => writeFileSync(join(outDir, 'report.json'), JSON.stringify(report, null, 2));
if (PARTS.includes('streams'))
  for (const ladder of LADDERS)
    for (const n of COUNTS) {
      const r = await streamsRun(ladder, n);
      (report.runs as unknown[]).push(r);
      process.stderr.write(
        `${ladder} x${n}: ${JSON.stringify({ perStream: r.originCoresPerStream, rt: r.realtimeRatio, load: r.load1 })}\n`,
      );
      save();
    }
if (PARTS.includes('demo')) {
  report.demo = await demoRun();
  save();
}
if (PARTS.includes('quality')) {
  report.quality = await qualityRun();
  save();
}
report.load1AtEnd = r3(load1());
save();
console.log(JSON.stringify(report, null, 2));
process.exit(0);
