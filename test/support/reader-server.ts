/**
 * A reader (src/reader) over a store, on a free loopback port, for tests and benchmarks that exercise it over real
 * HTTP without a whole node: the store's media, manifests, streams, health and (unless `archive: false`) its DVR
 * archive, its events, fresh metrics and a silent logger. Anything else the reader takes (access, vod, caches)
 * comes from `extra`.
 *
 *   const r = await serveReader(store);
 *   await fetch(`${r.base}/live/s/master.m3u8`);
 *   await r.close();
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createMetrics } from '../../src/metrics.js';
import { type ReaderDeps, createReader } from '../../src/reader/reader.js';
import type { Store } from '../../src/store/ports.js';

export interface ServedReader {
  server: Server;
  /** http://127.0.0.1:PORT */
  base: string;
  close(): Promise<void>;
}

export async function serveReader(
  store: Pick<Store, 'media' | 'manifests' | 'streams' | 'health' | 'archive' | 'events'>,
  o: { archive?: boolean; extra?: Partial<ReaderDeps> } = {},
): Promise<ServedReader> {
  const reader = createReader({
    store: {
      media: store.media,
      manifests: store.manifests,
      streams: store.streams,
      health: store.health,
      archive: o.archive === false ? undefined : store.archive,
    },
    events: store.events,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    ...o.extra,
  });
  const server = createServer(reader.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
