/**
 * Reading a published asset back the way a native client does: ffmpeg decodes every stream of a playlist to
 * nothing (its error output is what a test checks), ffprobe reports the duration. Asynchronous, so a reader
 * running in the test's own process keeps answering while they read.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** ffmpeg's error output after decoding every stream of `url` (empty: no decode error). */
export async function decodeErrors(url: string): Promise<string> {
  const { stderr } = await run(
    'ffmpeg',
    ['-hide_banner', '-v', 'error', '-i', url, '-map', '0', '-f', 'null', '-'],
    {
      encoding: 'utf8',
    },
  );
  return stderr;
}

/** The duration ffprobe reads from `url`, s. */
export async function probedDurationSec(url: string): Promise<number> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', url],
    { encoding: 'utf8' },
  );
  return Number(stdout.trim());
}
