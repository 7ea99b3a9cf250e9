/**
 * Wires the roles of a Wellspring node: ingest, manifest worker, reader. Every entry point in workers/ uses
 * this, so one box (npm start) and separate processes (docker-compose) run exactly the same code.
 */
import type { Config } from '../src/config.js';
import { IngestService } from '../src/ingest/ingest-service.js';
import type { Logger } from '../src/log.js';
import { ManifestWorker } from '../src/manifest/manifest-worker.js';
import { MANIFEST_TTL_SEC, ManifestRenderer } from '../src/manifest/renderer.js';
import type { Metrics } from '../src/metrics.js';
import { ManifestQueue } from '../src/queue/manifest-queue.js';
import { Reader } from '../src/reader/reader.js';
import { EventHub } from '../src/store/events.js';
import { DeploymentKeys } from '../src/store/keys.js';
import { MediaStore } from '../src/store/media-store.js';
import { connectRedis, type WellspringRedis } from '../src/store/redis.js';

export type Role = 'ingest' | 'manifest' | 'reader';

export interface NodeHandle {
  ingest?: IngestService;
  reader?: Reader;
  httpPort?: number;
  rtmpPort?: number;
  stop(): Promise<void>;
}

export async function startNode(
  config: Config,
  roles: Role[],
  log: Logger,
  metrics: Metrics,
): Promise<NodeHandle> {
  const connections: WellspringRedis[] = [];
  const conn = (o: Parameters<typeof connectRedis>[1] = {}): WellspringRedis => {
    const c = connectRedis(config.redisUrl, o);
    connections.push(c);
    return c;
  };
  const keys = new DeploymentKeys(config.keyPrefix);
  const stops: Array<() => Promise<void>> = [];
  const handle: NodeHandle = {
    async stop() {
      for (const s of stops.reverse()) await s().catch((err: unknown) => log.error({ err }, 'stop failed'));
      for (const c of connections) c.disconnect();
    },
  };
  try {
    if (roles.includes('manifest')) {
      const store = new MediaStore(conn(), config.keyPrefix);
      const worker = new ManifestWorker({
        queueName: keys.manifestQueue,
        connection: conn({ maxRetriesPerRequest: null }),
        store,
        renderer: new ManifestRenderer(store, {
          utcTimingUrl: config.utcTimingUrl,
          targetLatencyMs: config.targetLatencyMs,
          manifestTtlSec: MANIFEST_TTL_SEC,
        }),
        log,
        metrics,
      });
      stops.push(() => worker.close());
    }
    if (roles.includes('reader')) {
      // Reader commands fail fast while Redis is unreachable: a quick 503, never a hang.
      const store = new MediaStore(
        conn({ enableOfflineQueue: false, commandTimeout: 1000, maxRetriesPerRequest: 0 }),
        config.keyPrefix,
      );
      const events = new EventHub(conn(), keys.events, log);
      await events.whenReady();
      const reader = new Reader({ store, events, metrics, log });
      handle.httpPort = await reader.listen(config.http.port, config.http.host);
      handle.reader = reader;
      stops.push(() => reader.close());
    }
    if (roles.includes('ingest')) {
      const queue = new ManifestQueue(keys.manifestQueue, conn({ maxRetriesPerRequest: null }));
      // A command timeout turns a hung Redis into errors the publisher logs and retries (its writes are idempotent).
      const ingest = new IngestService(config, {
        store: new MediaStore(conn({ commandTimeout: 3000 }), config.keyPrefix),
        queue,
        metrics,
        log,
      });
      await ingest.start();
      handle.ingest = ingest;
      handle.rtmpPort = ingest.rtmpPort;
      stops.push(async () => {
        await ingest.stop();
        await queue.close();
      });
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
