/** Operational routes: the clock, liveness and readiness, metrics, the stream list, the demo page and its player. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { publicPath } from '../core/index.js';
import type { Metrics } from '../metrics.js';
import type { StoreHealth, StreamDirectory } from '../store/ports.js';
import { ReaderError } from './errors.js';
import { contentType } from './http-policy.js';
import { demoPage } from './page.js';
import { type Exchange, send } from './respond.js';
import type { Route } from './routes.js';

export type OpsRoute = Extract<
  Route,
  { kind: 'page' | 'vendor' | 'time' | 'healthz' | 'readyz' | 'metrics' | 'streams' }
>;

export interface OpsDeps {
  streams: StreamDirectory;
  health: StoreHealth;
  metrics: Metrics;
}

const TEXT = 'text/plain; charset=utf-8';

const hlsJs = ((): Buffer | undefined => {
  try {
    return readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
  } catch {
    return undefined;
  }
})();

export async function serveOps(x: Exchange, r: OpsRoute, d: OpsDeps): Promise<void> {
  switch (r.kind) {
    case 'page':
      return send(x, { cls: 'no-store', type: contentType('index.html'), body: demoPage() });
    case 'vendor':
      if (!hlsJs) throw new ReaderError('NOT_FOUND');
      return send(x, { cls: 'multivariant', type: contentType(r.file), body: hlsJs });
    case 'time':
      // DASH UTCTiming urn:mpeg:dash:utc:http-iso:2014
      return send(x, { cls: 'no-store', type: TEXT, body: new Date().toISOString() });
    case 'healthz':
      return send(x, { cls: 'no-store', type: TEXT, body: 'ok\n' });
    case 'readyz':
      await d.health.ping();
      return send(x, { cls: 'no-store', type: TEXT, body: 'ready\n' });
    case 'metrics':
      return send(x, {
        cls: 'no-store',
        type: d.metrics.registry.contentType,
        body: await d.metrics.registry.metrics(),
      });
    case 'streams': {
      const list = await d.streams.list(100);
      const body = {
        streams: list.map((s) => ({
          name: s.name,
          updatedAt: new Date(s.updatedAt).toISOString(),
          state: s.state,
          hls: publicPath.master(s.name),
          dash: publicPath.mpd(s.name),
          llDash: publicPath.mpdLowLatency(s.name),
        })),
      };
      return send(x, { cls: 'no-store', type: 'application/json', body: JSON.stringify(body) });
    }
  }
}
