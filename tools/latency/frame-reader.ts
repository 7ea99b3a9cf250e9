/**
 * Decodes media with ffmpeg and reads the stamp of every frame: bytes in (an init segment and media, or any
 * container ffmpeg reads), one stamp (or undefined for an unreadable code) per decoded frame out.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { readStamp } from './stamp.js';

export const READ_WIDTH = 320;
export const READ_HEIGHT = 180;

export async function readStamps(
  input: Uint8Array[],
  ffmpegPath = 'ffmpeg',
): Promise<Array<number | undefined>> {
  const child = spawn(
    ffmpegPath,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-threads',
      '1',
      '-i',
      'pipe:0',
      '-vf',
      `scale=${READ_WIDTH}:${READ_HEIGHT},format=gray`,
      // One output frame per decoded frame (no duplication or dropping to a constant rate): frames map to parts.
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      'pipe:1',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  // Decoding is bookkeeping: it runs after the availability time was taken, so it yields the CPU to the chain
  // under test (nice 10).
  try {
    if (child.pid) setPriority(child.pid, 10);
  } catch {
    // not permitted here: decode at normal priority
  }
  const chunks: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.on('error', () => undefined);
  for (const b of input) child.stdin.write(b);
  child.stdin.end();
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const raw = Buffer.concat(chunks);
  const size = READ_WIDTH * READ_HEIGHT;
  if (code !== 0 && raw.length < size)
    throw new Error(`ffmpeg could not decode: ${err.trim().split('\n').slice(-2).join(' | ')}`);
  const out: Array<number | undefined> = [];
  for (let p = 0; p + size <= raw.length; p += size)
    out.push(readStamp(raw.subarray(p, p + size), READ_WIDTH, READ_HEIGHT));
  return out;
}
