/** The stamp survives what the pipeline does to a frame: x264, scaling to the smallest rung, lossy re-encoding. */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { readStamps } from '../../tools/latency/frame-reader.js';
import { FrameMaker } from '../../tools/source/stamped-source.js';

function ffmpeg(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(err))));
    c.stdin.end(input);
  });
}

it('reads back every stamp after x264, scaling to 426x240 and a low-quality re-encode, and none misread', async () => {
  const maker = new FrameMaker(1280, 720);
  const stamps = Array.from({ length: 60 }, (_, i) => 1_795_294_000_000 + i * 33 + (i % 7));
  const raw = Buffer.concat(stamps.map((t, i) => maker.frame(i, t)));
  const first = await ffmpeg(
    [
      '-f',
      'rawvideo',
      '-pix_fmt',
      'yuv420p',
      '-s',
      '1280x720',
      '-r',
      '30',
      '-i',
      'pipe:0',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '28',
      '-f',
      'mp4',
      '-movflags',
      'frag_keyframe+empty_moov',
      'pipe:1',
    ],
    raw,
  );
  const rung = await ffmpeg(
    [
      '-i',
      'pipe:0',
      '-vf',
      'scale=-2:240',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-crf',
      '38',
      '-f',
      'mp4',
      '-movflags',
      'frag_keyframe+empty_moov',
      'pipe:1',
    ],
    first,
  );
  const read = await readStamps([rung]);
  expect(read).toHaveLength(stamps.length);
  expect(read).toEqual(stamps);
});
