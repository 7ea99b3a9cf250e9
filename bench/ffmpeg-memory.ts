/**
 * bench:ffmpeg-memory (issue #13): where the live transcoder's slow RSS growth comes from. The soak measured
 * ffmpeg's RSS rising ~3.4 MB per hour while everything of ours stayed flat. ffmpeg's fMP4 muxer (movenc) keeps one
 * index entry per fragment per output for the whole run (the mfra/tfra index it writes at the end), so its memory
 * should grow with the number of fragments written, not with time or pixels. This runs the production argument list
 * (buildTranscodeArgs: the configured ladder's shape, here with small rungs so it runs many times faster than real
 * time) on a lavfi source, outputs drained and discarded, twice at once: fragments of the configured part duration,
 * and fragments ten times longer. Same media, same encoders; only the fragment count differs. RSS every 2 s;
 * the least-squares slope per media hour (ffmpeg's -progress out_time) of each, and the slope per fragment.
 *   npm run bench:ffmpeg-memory [-- --media-hours 2]
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { buildTranscodeArgs } from '../src/adapters/ffmpeg/args.js';
import { parseConfig } from '../src/config.js';
import { CmafStreamReader } from '../src/core/index.js';
import { rssBytes, slope } from '../tools/load/observe.js';

const { values } = parseArgs({ options: { 'media-hours': { type: 'string', default: '2' } } });
const mediaSec = Math.round(Number(values['media-hours']) * 3600);
const partSec = 0.2;
const ladder = parseConfig({
  defaults: {
    ladder: [
      { name: 'r1', height: 144, videoBitrateK: 150, preset: 'ultrafast' },
      { name: 'r2', height: 120, videoBitrateK: 100, preset: 'ultrafast' },
      { name: 'r3', height: 96, videoBitrateK: 80, preset: 'ultrafast' },
    ],
  },
}).defaults.ladder!;

interface Sample {
  mediaSec: number;
  rssMb: number;
}

async function run(fragSec: number): Promise<{ fragSec: number; fragments: number; samples: Sample[] }> {
  const { args, outputs } = buildTranscodeArgs({
    input: {
      kind: 'lavfi',
      video: `testsrc2=size=256x144:rate=30:duration=${mediaSec}`,
      audio: `sine=frequency=440:sample_rate=48000:duration=${mediaSec}`,
    },
    ladder,
    audio: true,
    audioBitrateK: 64,
    segmentSec: 2,
    partSec: fragSec,
    fps: 30,
    decoderThreads: 1,
  });
  // As fast as it can: the growth is per fragment, so media time, not wall time, is the axis.
  const ff = spawn(
    'ffmpeg',
    args.filter((a) => a !== '-re'),
    { stdio: ['ignore', 'pipe', 'pipe', ...outputs.map(() => 'pipe' as const)] },
  );
  let fragments = 0;
  for (const o of outputs) {
    const reader = new CmafStreamReader();
    (ff.stdio[o.fd] as Readable).on('data', (d: Buffer) => {
      for (const e of reader.push(d)) if (e.kind === 'chunk') fragments++;
    });
  }
  let outSec = 0;
  let stderr = '';
  ff.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  ff.stdout!.on('data', (d: Buffer) => {
    for (const m of d.toString().matchAll(/out_time_us=(\d+)/g)) outSec = Number(m[1]) / 1e6;
  });
  const samples: Sample[] = [];
  const timer = setInterval(() => {
    const rss = rssBytes(ff.pid!);
    if (Number.isFinite(rss) && outSec > 0) samples.push({ mediaSec: outSec, rssMb: rss / 1e6 });
  }, 2000);
  const code = await new Promise<number | null>((r) => ff.once('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`ffmpeg exited ${code}: ${stderr}`);
  return { fragSec, fragments, samples };
}

const runs = await Promise.all([run(partSec), run(partSec * 10)]);
const report = runs.map((r) => {
  // The first 10 % is start-up (buffers, encoder lookahead filling); the slope is over the rest.
  const s = r.samples.filter((x) => x.mediaSec > mediaSec * 0.1);
  const fit = slope(
    s.map((x) => x.mediaSec / 3600),
    s.map((x) => x.rssMb),
  );
  const fragmentsPerHour = (r.fragments / mediaSec) * 3600;
  return {
    fragmentSec: r.fragSec,
    fragmentsWritten: r.fragments,
    samples: s.length,
    rssMb: { first: s[0]?.rssMb, last: s[s.length - 1]?.rssMb },
    slopeMbPerMediaHour: Math.round(fit.slope * 100) / 100,
    stderrMbPerMediaHour: Math.round(fit.stderr * 100) / 100,
    bytesPerFragment: Math.round((fit.slope * 1e6) / fragmentsPerHour),
  };
});
console.log(
  JSON.stringify(
    {
      bench: 'ffmpeg-memory',
      config: {
        mediaSec,
        ladder:
          '3 video rungs (144p/120p/96p x264 ultrafast) + AAC: 4 fMP4 outputs, as the default ladder has',
        source: 'lavfi testsrc2 256x144 30 fps + sine, no -re (faster than real time)',
        runs: 'both at once: fragments of partSec and of 10 x partSec; RSS from /proc every 2 s',
      },
      runs: report,
    },
    null,
    2,
  ),
);
