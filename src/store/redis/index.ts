/** The Redis adapter of every store port, standalone or Cluster. */
import type { RedisTarget } from '../../config.js';
import type { Store } from '../ports.js';
import { type Client, type Role, connect } from './connection.js';
import { RedisStreamDirectory } from './directory.js';
import { RedisEventBus } from './events.js';
import { RedisEventLog } from './event-log.js';
import { RedisPublisherLocks } from './locks.js';
import { RedisManifestStore } from './manifests.js';
import { RedisMediaStore } from './media.js';
import { RedisObjectStore } from './objects.js';
import { RedisHealthBoard, RedisStreamControls } from './operations.js';
import { RedisSegmentArchive } from './archive.js';

export interface RedisStoreOptions {
  target: RedisTarget;
  /** Prefix of every key (several deployments can share one Redis). */
  prefix: string;
  /** Connection tuning for this process' role (see connection.ts). */
  role: Role;
  /** Open a subscriber connection (processes that wait on events: readers). */
  subscribe?: boolean;
  onBadEvent?: (raw: string) => void;
  /** Operations events kept in the event log (approximately; default 10000). */
  eventHistory?: number;
}

export function createRedisStore(o: RedisStoreOptions): Store {
  const client = connect(o.target, o.role);
  const sub: Client | undefined = o.subscribe ? connect(o.target, 'subscriber') : undefined;
  const events = new RedisEventBus({ pub: client, sub, prefix: o.prefix, onBadMessage: o.onBadEvent });
  const objects = new RedisObjectStore(client, o.prefix, sub);
  const eventLog = new RedisEventLog({
    redis: client,
    prefix: o.prefix,
    historySize: o.eventHistory ?? 10_000,
    blocking: () => connect(o.target, 'queue'),
  });
  return {
    media: new RedisMediaStore(client, o.prefix),
    manifests: new RedisManifestStore(client, o.prefix),
    streams: new RedisStreamDirectory(client, o.prefix),
    locks: new RedisPublisherLocks(client, o.prefix),
    events,
    objects,
    eventLog,
    controls: new RedisStreamControls(client, o.prefix),
    healthBoard: new RedisHealthBoard(client, o.prefix),
    archive: new RedisSegmentArchive(client, o.prefix),
    // Keys `<prefix>:vod-hot:{o:<asset>}...`: one slot per asset, apart from the object API's containers.
    hotAssets: new RedisObjectStore(client, `${o.prefix}:vod-hot`),
    health: {
      async ping() {
        await client.ping();
      },
    },
    async close() {
      await events.close();
      objects.close();
      eventLog.close();
      sub?.disconnect();
      client.disconnect();
    },
  };
}

export { connect, type Client, type Role } from './connection.js';
export { DeploymentKeys, StreamKeys } from './keys.js';
