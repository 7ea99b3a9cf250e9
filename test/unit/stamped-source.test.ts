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
      const end = Date.now() + 15_000;
      while (s.droppedFrames < 30 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(s.droppedFrames).toBeGreaterThanOrEqual(30);
      // At most the bound plus one frame (the write that crossed it) waits in the pipe's user-space queue.
      expect(s.queuedBytes).toBeLessThanOrEqual(9 * ((320 * 180 * 3) / 2));
    } finally {
      process.kill(pid, 'SIGCONT');
      await s.stop();
    }
  });
});
