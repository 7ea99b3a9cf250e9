/**
 * A manifest job: renders one stream; if the stream changed while it rendered, renders again before finishing,
 * so the newest part always reaches a playlist. Runs behind any RenderQueue (BullMQ, or memory in tests).
 */
import type { Metrics } from '../metrics.js';
import type { RenderHandler } from '../queue/ports.js';
import type { StreamDirectory } from '../store/ports.js';
import type { ManifestRenderer } from './renderer.js';

export interface ManifestJobDeps {
  renderer: ManifestRenderer;
  streams: StreamDirectory;
  metrics: Metrics;
  now?: () => number;
}

/** At most this many renders per job: a stream written faster than it renders still finishes its job. */
const MAX_PASSES = 5;

export function manifestJob(d: ManifestJobDeps): RenderHandler {
  const now = d.now ?? Date.now;
  return async (stream) => {
    for (let i = 0; i < MAX_PASSES; i++) {
      const t0 = performance.now();
      const r = await d.renderer.render(stream, now());
      d.metrics.manifestRenderSeconds.observe((performance.now() - t0) / 1000);
      if (!r) return;
      // Re-check: a part that landed during the render gets one more pass here (and the queue adds a job).
      if ((await d.streams.version(stream)) === r.version) return;
    }
  };
}
