/** Entry point: the ingest worker alone (RTMP, SRT, watch folders -> ffmpeg ladder -> Redis). */
import { IngestService } from '../src/ingest/ingest-service.js';
import { ManifestQueue } from '../src/queue/manifest-queue.js';
import { DeploymentKeys } from '../src/store/keys.js';
import { MediaStore } from '../src/store/media-store.js';
import { bootstrap } from './bootstrap.js';

const rt = bootstrap('ingest');
const queue = new ManifestQueue(new DeploymentKeys(rt.config.keyPrefix).manifestQueue, rt.bullConnection());
const ingest = new IngestService(rt.config, {
  store: new MediaStore(rt.redis, rt.config.keyPrefix),
  queue,
  metrics: rt.metrics,
  log: rt.log,
});
rt.onShutdown(() => queue.close());
rt.onShutdown(() => ingest.stop());
await ingest.start();
