/**
 * bench:vod (issue #11): VOD packaging speed, media seconds per wall second (x real time), for a source file made
 * here by ffmpeg (lavfi, H.264 + AAC), packaged by packageFile into a disk cold tier: with the configured ladder
 * (the default one unless WELLSPRING_CONFIG says otherwise) and with passthrough. The reference, measured in the
 * same run: ffmpeg alone running the very same argument list with its outputs to /dev/null (no reading, no
 * segmenting, no cold-tier writes): the difference is what the packaging costs.
 *   npm run bench:vod [-- --seconds 20 --runs 3 --size 1280x720]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildTranscodeArgs } from '../src/adapters/ffmpeg/args.js';
import { loadConfig, streamSettings } from '../src/config.js';
import { openColdTier } from '../src/store/cold/registry.js';
import { VodAssets } from '../src/vod/assets.js';
import { type VideoMode, packageFile } from '../src/vod/package.js';
import { summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '1280x720' },
  },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const config = loadConfig(process.env.WELLSPRING_CONFIG, process.env);
const settings = streamSettings(config, 'vod');
const dir = mkdtempSync(join(tmpdir(), 'ws-bench-vod-'));
const file = join(dir, 'source.mp4');
execFileSync('ffmpeg', [
  ...[
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${values.size}:rate=30:duration=${seconds}`,
  ],
  ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`],
  ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac', file],
]);
const cold = await openColdTier({ type: 'disk', dir: join(dir, 'cold') });
const assets = new VodAssets(cold);
const log = pino({ level: 'warn' });

async function packaging(mode: VideoMode): Promise<number[]> {
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await packageFile({
      file,
      name: `b-${mode}-${i}`,
      assets,
      settings: { ...settings, mode, decoderThreads: config.decoderThreads },
      ffmpegPath: config.ffmpegPath,
      log,
    });
    speeds.push(r.speedX);
  }
  return speeds;
}

/** ffmpeg alone, the same arguments, outputs to /dev/null. */
function reference(passthrough: boolean): number[] {
  const ladder = passthrough
    ? [
        {
          name: 'source',
          passthrough: true,
          preset: 'veryfast' as const,
          profile: 'high' as const,
          threads: 1,
        },
      ]
    : settings.ladder;
  const { args } = buildTranscodeArgs({
    input: { kind: 'file', path: file },
    ladder,
    audio: true,
    audioBitrateK: settings.audioBitrateK,
    segmentSec: settings.segmentSec,
    partSec: settings.segmentSec,
    fps: settings.fps,
    decoderThreads: config.decoderThreads,
  });
  const nulled = args.map((a) => (/^pipe:\d+$/.test(a) && a !== 'pipe:1' ? '/dev/null' : a));
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(config.ffmpegPath, ['-y', ...nulled], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`reference ffmpeg exited ${r.status}`);
    speeds.push(seconds / ((performance.now() - t0) / 1000));
  }
  return speeds;
}

const summary = (xs: number[]) => {
  const q = summarize(xs);
  return { runs: xs.map((x) => Number(x.toFixed(2))), p50: q.p50, p95: q.p95, p99: q.p99 };
};

try {
  const ladder = await packaging('ladder');
  const ladderRef = reference(false);
  const pass = await packaging('passthrough');
  const passRef = reference(true);
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'vod',
        unit: 'x real time (media seconds per wall second)',
        configuration: {
          sourceSec: seconds,
          sourceSize: values.size,
          runs,
          segmentSec: settings.segmentSec,
          fps: settings.fps,
          ladder: settings.ladder.map(
            (r) => `${r.name}:${r.height ?? 'src'}p@${r.videoBitrateK ?? '-'}k/${r.preset}`,
          ),
          coldTier: 'disk (tmpdir)',
          cpus: (await import('node:os')).cpus().length,
        },
        ladder: { packageFile: summary(ladder), ffmpegAloneToDevNull: summary(ladderRef) },
        passthrough: { packageFile: summary(pass), ffmpegAloneToDevNull: summary(passRef) },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await cold.close();
  rmSync(dir, { recursive: true, force: true });
}
