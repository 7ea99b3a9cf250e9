/**
 * The in-memory render queue (in-process tests): per-stream coalescing with one follow-up render for requests
 * that arrive mid-render, as the BullMQ queue does with deduplication and keepLastIfActive.
 */
import type { RenderHandler, RenderQueue, RenderWorker } from './ports.js';

export class MemoryRenderQueue implements RenderQueue {
  private handler: RenderHandler | undefined;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private closed = false;
  /** Renders that threw (tests assert on them). */
  readonly failures: Array<{ stream: string; err: unknown }> = [];

  process(handler: RenderHandler): RenderWorker {
    this.handler = handler;
    return { close: async () => void (this.handler = undefined) };
  }

  async requestRender(stream: string): Promise<void> {
    if (this.closed || !this.handler) return;
    if (this.running.has(stream)) {
      this.again.add(stream);
      return;
    }
    const run = async (): Promise<void> => {
      do {
        this.again.delete(stream);
        try {
          await this.handler?.(stream);
        } catch (err) {
          this.failures.push({ stream, err });
        }
      } while (this.again.has(stream) && !this.closed);
      this.running.delete(stream);
    };
    this.running.set(stream, run());
  }

  /** Resolves when no render is running or scheduled. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}
