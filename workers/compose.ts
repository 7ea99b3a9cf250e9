/**
 * Wires the roles of a Wellspring node: ingest, manifest worker, reader. Every entry point in workers/ uses
 * this, so one box (npm start) and separate processes (docker-compose) run exactly the same code.
 */
import {
  type Config,
  dvrPlaylistRenderer,
  opsNeedToken,
  redisTarget,
  streamSettings,
} from '../src/config.js';
import { IngestService } from '../src/ingest/ingest-service.js';
import { startIngestHttp } from '../src/ingest/http/listener.js';
import { createObjectApi } from '../src/ingest/http/objects/service.js';
import type { HttpHandler, HttpMount } from '../src/ingest/http/types.js';
import type { Logger } from '../src/log.js';
import { manifestJob } from '../src/manifest/manifest-worker.js';
import { MANIFEST_TTL_SEC, ManifestRenderer } from '../src/manifest/renderer.js';
import type { Metrics } from '../src/metrics.js';
import { BullRenderQueue, startBullRenderWorker } from '../src/queue/bullmq.js';
import { type Reader, createReader } from '../src/reader/reader.js';
import { createReaderAccess } from '../src/reader/access.js';
import { cdnGate } from '../src/auth/cdn/index.js';
import { playbackPolicy } from '../src/auth/playback/index.js';
import { createPublishAuthorizer } from '../src/auth/publish/index.js';
import type { Store } from '../src/store/ports.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { createControlApi } from '../src/api/router.js';
import { DisabledStreams } from '../src/api/disabled.js';
import { ApiTokens } from '../src/api/auth.js';
import { startWebhooks } from '../src/queue/webhooks.js';
import { ColdArchiver } from '../src/store/cold/archiver.js';
import { ArchivingMediaStore } from '../src/store/cold/archiving-media.js';
import { openColdTier as openLiveColdTier } from '../src/store/cold/registry.js';
import { ColdSweeper } from '../src/store/cold/sweeper.js';
import { TieredMediaStore } from '../src/store/tiered/index.js';
import type { ColdTier as LiveColdTier } from '../src/store/ports.js';
import { BullAssetJobQueue, startBullAssetWorker } from '../src/queue/bullmq-assets.js';
import { openColdTier } from '../src/store/cold/registry.js';
import type { ColdTierSettings } from '../src/store/cold/types.js';
import type { ColdTier } from '../src/store/ports.js';
import { VodAssets } from '../src/vod/assets.js';
import { planHarvest } from '../src/vod/harvest.js';
import { assetJobHandler } from '../src/vod/jobs.js';
import { startAutoArchive } from '../src/vod/auto-archive.js';
import { VodObjects } from '../src/reader/vod.js';
import { vodUploadMount } from '../src/ingest/http/vod-upload.js';

/** Largest VOD upload on the ingest listener (issue #11), bytes. */
const VOD_MAX_UPLOAD_BYTES = 4 * 1024 * 1024 * 1024;

export type Role = 'ingest' | 'manifest' | 'reader';

export interface NodeHandle {
  ingest?: IngestService;
  reader?: Reader;
  httpPort?: number;
  rtmpPort?: number;
  /** The ingest HTTP listener's port (object API, CMAF ingest under /ingest/). */
  httpIngestPort?: number;
  stop(): Promise<void>;
}

export async function startNode(
  config: Config,
  roles: Role[],
  log: Logger,
  metrics: Metrics,
): Promise<NodeHandle> {
  const target = redisTarget(config);
  const prefix = config.keyPrefix;
  const stores: Store[] = [];
  const store = (role: 'command' | 'ingest' | 'reader', subscribe = false): Store => {
    const st = createRedisStore({
      target,
      prefix,
      role,
      subscribe,
      eventHistory: config.api.eventHistory,
      onBadEvent: (raw) => log.warn({ event: raw.slice(0, 200) }, 'unparseable event'),
    });
    stores.push(st);
    return st;
  };
  const stops: Array<() => Promise<void>> = [];
  // The cold tier of live media (issue #11, decision 013): opened once per node when cold.type is not none.
  let liveCold: Promise<LiveColdTier | undefined> | undefined;
  const liveColdTier = (): Promise<LiveColdTier | undefined> => {
    liveCold ??= (async () => {
      if (config.cold.type === 'none') return undefined;
      const t = await openLiveColdTier(config.cold);
      log.info({ kind: t.kind }, 'cold tier open');
      stops.unshift(() => t.close());
      return t;
    })();
    return liveCold;
  };
  // VOD (issue #11): one cold tier handle per node for assets, harvests and uploads, when the config has one.
  let vodCold: Promise<ColdTier | undefined> | undefined;
  const vodColdTier = (): Promise<ColdTier | undefined> => {
    vodCold ??= (async () => {
      const c = (config as { cold?: ColdTierSettings | { type: 'none' } }).cold;
      if (!c || c.type === 'none') return undefined;
      const t = await openColdTier(c);
      stops.unshift(() => t.close());
      return t;
    })();
    return vodCold;
  };
  const handle: NodeHandle = {
    async stop() {
      for (const s of stops.reverse()) await s().catch((err: unknown) => log.error({ err }, 'stop failed'));
      for (const st of stores) await st.close();
    },
  };
  try {
    if (roles.includes('manifest')) {
      const st = store('command');
      // Cold-tier retention (issue #11): every manifest worker sweeps; the sweep is idempotent.
      const sweepTier = await liveColdTier();
      if (sweepTier) {
        const keep = new Set(config.cold.keep);
        const sweeper = new ColdSweeper({
          tier: sweepTier,
          archive: st.archive,
          log: log.child({ component: 'cold-sweeper' }),
          streams: async () => [
            ...new Set([
              ...config.streams.map((s) => s.name),
              ...(await st.streams.list(10_000)).map((s) => s.name),
            ]),
          ],
          retention: async (name) => {
            if (keep.has(name)) return 'keep';
            const stored = (await st.streams.readState(name)).settings?.dvrWindowSec;
            return (
              stored ??
              config.streams.find((s) => s.name === name)?.dvrWindowSec ??
              config.defaults.dvrWindowSec
            );
          },
          intervalMs: config.cold.sweepIntervalSec * 1000,
          metrics: { deleted: metrics.coldSwept, runs: metrics.coldSweeps },
        });
        sweeper.start();
        stops.push(() => sweeper.close());
      }
      const worker = startBullRenderWorker({
        target,
        prefix,
        log,
        handler: manifestJob({
          renderer: new ManifestRenderer(st, {
            utcTimingUrl: config.utcTimingUrl,
            targetLatencyMs: config.targetLatencyMs,
            manifestTtlSec: MANIFEST_TTL_SEC,
            dvrPlaylists: dvrPlaylistRenderer(config) === 'manifest',
          }),
          streams: st.streams,
          metrics,
        }),
      });
      stops.push(() => worker.close());
      // Asset jobs (issue #11: harvests, VOD packaging) run beside the renders, when a cold tier is configured.
      const cold = await vodColdTier();
      if (cold) {
        const assetWorker = startBullAssetWorker({
          target,
          prefix,
          log,
          handler: assetJobHandler({ config, store: st, cold, log }),
        });
        stops.push(() => assetWorker.close());
        // archiveOnEnd streams: a harvest of the whole event when the publisher leaves.
        const archived = new Map(
          config.streams
            .filter((x) => x.archiveOnEnd)
            .map((x) => [x.name, { dvrWindowSec: streamSettings(config, x.name, x).dvrWindowSec }]),
        );
        if (archived.size > 0) {
          const jobs = new BullAssetJobQueue(target, prefix);
          const sub = startAutoArchive({ events: st.eventLog, jobs, streams: archived, log });
          stops.push(async () => {
            sub.close();
            await jobs.close();
          });
        }
      }
      if (config.api.webhooks.length > 0) {
        // Operations events POSTed to the configured URLs (issue #12), from every manifest worker (deduplicated).
        const hooks = startWebhooks({
          target,
          prefix,
          eventLog: st.eventLog,
          webhooks: config.api.webhooks,
          attempts: config.api.webhookAttempts,
          timeoutMs: config.api.webhookTimeoutMs,
          maxBackoffMs: config.api.webhookMaxBackoffMs,
          log,
        });
        await hooks.ready;
        stops.push(() => hooks.close());
      }
    }
    if (roles.includes('reader')) {
      // Reader commands fail fast while Redis is unreachable: a quick 503, never a hang.
      const st = store('reader', true);
      // Tiered read (issue #11): Redis first, then the cold tier, same URLs, ranges and ETags.
      const readTier = await liveColdTier();
      if (readTier) {
        const c = config.cold;
        st.media = new TieredMediaStore({
          hot: st.media,
          cold: readTier,
          log: log.child({ component: 'tiered-read' }),
          cacheBytes: c.cacheBytes,
          promoteAfter: c.promotion.after,
          promoteWindowMs: c.promotion.windowSec * 1000,
          promoteTtlSec: c.promotion.ttlSec,
          missTtlMs: c.missTtlMs,
          metrics: {
            coldReads: metrics.coldReads,
            cacheHits: metrics.coldCacheHits,
            promotions: metrics.coldPromotions,
            cacheBytes: metrics.coldCacheBytes,
          },
        });
      }
      // The CDN secret and signed playback (issue #12): open when auth.cdn / auth.playback configure nothing.
      const access = createReaderAccess({
        cdn: cdnGate(config.auth.cdn),
        playback: playbackPolicy(config.auth.playback),
        log,
      });
      // The control API and the disabled-stream switch (issue #12).
      // Harvest API and /vod/ assets (issue #11), when a cold tier is configured.
      const cold = await vodColdTier();
      const assetJobs = cold ? new BullAssetJobQueue(target, prefix) : undefined;
      if (assetJobs) stops.push(() => assetJobs.close());
      const vodAssets = cold ? new VodAssets(cold) : undefined;
      const api = createControlApi({
        tokens: config.api.tokens,
        store: st,
        events: st.events,
        log,
        historySize: config.api.eventHistory,
        assets:
          assetJobs && vodAssets
            ? { jobs: assetJobs, plan: (r) => planHarvest(st, r), exists: (a) => vodAssets.exists(a) }
            : undefined,
      });
      const disabled = new DisabledStreams(st.controls, config.api.disabledStatus);
      const opsClosed = opsNeedToken(config);
      if (opsClosed && config.api.tokens.length === 0)
        log.warn('api.opsAccess is token but no api.tokens are configured: /metrics and /streams answer 401');
      const opsTokens = opsClosed ? new ApiTokens(config.api.tokens) : undefined;
      const reader = createReader({
        // A reader with the SegmentArchive renders dvr.m3u8 itself; without it, serves the manifest worker's copy.
        store: { ...st, archive: dvrPlaylistRenderer(config) === 'reader' ? st.archive : undefined },
        events: st.events,
        metrics,
        log,
        access,
        api,
        disabled,
        opsTokens,
        cacheBytes: config.reader.mediaCacheBytes,
        manifestCacheMs: config.reader.manifestCacheMs,
        vod: vodAssets
          ? new VodObjects(vodAssets, undefined, {
              // Popular VOD objects into Redis, shared by every reader: the live tiering's promotion settings.
              hot: st.hotAssets,
              after: config.cold.promotion.after,
              windowMs: config.cold.promotion.windowSec * 1000,
              ttlSec: config.cold.promotion.ttlSec,
              log: log.child({ component: 'vod' }),
              metrics: { reads: metrics.vodReads, promotions: metrics.vodPromotions },
            })
          : undefined,
      });
      handle.httpPort = await reader.listen(config.http.port, config.http.host, config.http);
      handle.reader = reader;
      stops.push(() => reader.close());
    }
    if (roles.includes('ingest')) {
      const queue = new BullRenderQueue(target, prefix);
      // A command timeout turns a hung Redis into errors the publisher logs and retries (its writes are idempotent).
      // Who may publish (issue #12): config keys, JWT, the auth hook, the slow-down; open mode says so loudly.
      const publishAuth = createPublishAuthorizer(config, { log });
      // Every complete segment and init also goes to the cold tier, behind the live path (issue #11).
      const ingestStore = store('ingest');
      const archiveTier = await liveColdTier();
      if (archiveTier) {
        const q = config.cold.queue;
        const archiver = new ColdArchiver({
          tier: archiveTier,
          archive: ingestStore.archive,
          log: log.child({ component: 'cold-archiver' }),
          ...q,
          metrics: {
            backlogItems: metrics.coldBacklogItems,
            backlogBytes: metrics.coldBacklogBytes,
            writes: metrics.coldWrites,
            writeLag: metrics.coldWriteLag,
            writeErrors: metrics.coldWriteErrors,
          },
        });
        // Stops after the ingest (stops run in reverse): the last segments are queued before it drains.
        stops.push(() => archiver.close());
        ingestStore.media = new ArchivingMediaStore(ingestStore.media, archiver);
      }
      const ingest = new IngestService(config, { store: ingestStore, queue, metrics, log, publishAuth });
      await ingest.start();
      handle.ingest = ingest;
      handle.rtmpPort = ingest.rtmpPort;
      stops.push(async () => {
        await ingest.stop();
        await queue.close();
      });
      if (config.httpIngest.enabled) {
        const hi = config.httpIngest;
        // Handlers mounted by path prefix (CMAF ingest at /ingest/); everything else is the object API.
        const mounts: HttpMount[] = [...ingest.httpMounts()];
        // VOD uploads at /vod/ (issue #11), when a cold tier is configured.
        const cold = await vodColdTier();
        if (cold) {
          const jobs = new BullAssetJobQueue(target, prefix);
          stops.push(() => jobs.close());
          mounts.push(
            vodUploadMount({
              cold,
              assets: new VodAssets(cold),
              jobs,
              tokens: config.api.tokens,
              ffmpegPath: config.ffmpegPath,
              streams: config.streams.map((x) => x.name),
              maxBytes: VOD_MAX_UPLOAD_BYTES,
              log,
            }),
          );
        }
        // The object API follows STREAMING uploads for GetObject: a store with a subscriber.
        const objectApi: HttpHandler = createObjectApi({
          store: store('ingest', true).objects,
          config: hi,
          log,
        });
        const http = await startIngestHttp({
          host: hi.host,
          port: hi.port,
          mounts,
          fallback: objectApi,
          timeouts: hi,
          log,
        });
        handle.httpIngestPort = http.port;
        stops.push(() => http.close());
      }
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
