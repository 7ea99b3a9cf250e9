/**
 * The stamped source (the demo's built-in stream) drops frames instead of buffering them when its encoder falls
 * behind: a real ffmpeg, stopped with SIGSTOP, never reads; the source's queue stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { StampedSource } from '../../tools/source/stamped-source.js';

describe('StampedSource', () => {
  it('drops frames, video and audio together, while its encoder cannot keep up, and stays bounded', async () => {
    const s = new StampedSource({
      url: 'unused',
      width: 320,
      height: 180,
      fps: 30,
      outputArgs: ['-f', 'null', '-'],
    });
    s.start();
    const pid = s.pid!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGSTOP');
    try {
      const waitDrops = async (n: number): Promise<void> => {
        const end = Date.now() + 15_000;
        while (s.droppedFrames < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        expect(s.droppedFrames).toBeGreaterThanOrEqual(n);
      };
      await waitDrops(1);
      const queued = s.queuedBytes;
      // A pipe's worth of audio plus the bound of video waits: about a second of 320x180 frames at most.
      expect(queued).toBeLessThanOrEqual(60 * ((320 * 180 * 3) / 2));
      await waitDrops(30);
      // Dropping, not queueing: the queue did not grow while 30 more frames were due.
      expect(s.queuedBytes).toBe(queued);
    } finally {
      process.kill(pid, 'SIGCONT');
      await s.stop();
    }
  });
});
