/**
 * The asset job handler (issue #11): runs a harvest or a VOD packaging for the asset job queue, reporting progress,
 * and marks bad input as permanent (no retry: the same input gives the same answer). Transient failures (cold
 * tier or store unavailable, a worker killed mid-way) are retried by the queue; every step is idempotent.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { streamSettings } from '../config.js';
import type { Logger } from '../log.js';
import { type AssetJobHandler, PermanentJobError } from '../queue/ports.js';
import type { ColdTier, MediaStore, SegmentArchive, StreamDirectory } from '../store/ports.js';
import { VodAssetExistsError, VodAssets } from './assets.js';
import { HarvestRequestError, runHarvest } from './harvest.js';
import { VodInputError, packageFile } from './package.js';

export interface AssetJobDeps {
  config: Pick<Config, 'defaults' | 'streams' | 'ffmpegPath' | 'decoderThreads'>;
  store: { media: MediaStore; streams: StreamDirectory; archive: SegmentArchive };
  cold: ColdTier;
  log: Logger;
}

const permanent = (err: unknown): boolean =>
  err instanceof HarvestRequestError || err instanceof VodInputError || err instanceof VodAssetExistsError;

export function assetJobHandler(d: AssetJobDeps): AssetJobHandler {
  const assets = new VodAssets(d.cold);
  return async (spec, ctx) => {
    try {
      if (spec.kind === 'harvest') {
        await ctx.progress({ percent: 0, stage: 'copying' });
        const r = await runHarvest({ ...d.store, cold: d.cold, assets, log: d.log }, spec, (done, total) =>
          ctx.progress({ percent: Math.floor((done * 99) / Math.max(1, total)), stage: 'copying' }),
        );
        await ctx.progress({ percent: 100, stage: 'done' });
        return { ...r, hls: `/vod/${spec.asset}/master.m3u8`, dash: `/vod/${spec.asset}/manifest.mpd` };
      }
      const src = await d.cold.get(spec.sourceKey);
      if (!src) {
        // A retry after the source was consumed: the asset is there, or the upload is gone.
        const done = await assets.describe(spec.asset);
        if (done) return { asset: spec.asset, alreadyPublished: true };
        throw new VodInputError(`the uploaded file of ${spec.asset} is gone`);
      }
      const dir = await mkdtemp(join(tmpdir(), 'ws-vod-'));
      try {
        const file = join(dir, 'source');
        await writeFile(file, src.bytes);
        const stream = spec.stream ? d.config.streams.find((s) => s.name === spec.stream) : undefined;
        const s = streamSettings(d.config as Config, spec.stream ?? 'vod', stream);
        await ctx.progress({ percent: 0, stage: 'encoding' });
        let last = 0;
        let reported = 0;
        const r = await packageFile({
          file,
          name: spec.asset,
          assets,
          settings: { ...s, mode: spec.mode, decoderThreads: d.config.decoderThreads },
          ffmpegPath: d.config.ffmpegPath,
          log: d.log,
          sourceLabel: spec.sourceName,
          onProgress: (p) => {
            // At most one report a second, except the first one past 0 (a short file may finish within a second).
            const percent = Math.floor(p.fraction * 99);
            if (percent === 0 || (performance.now() - last < 1000 && reported > 0)) return;
            reported = percent;
            last = performance.now();
            void ctx
              .progress({
                percent,
                stage: 'encoding',
                speed: Number(p.speed.toFixed(2)),
                ...(p.etaSec !== undefined ? { etaSec: Math.round(p.etaSec) } : {}),
              })
              .catch(() => undefined);
          },
        });
        await d.cold.deleteMany([spec.sourceKey]);
        await ctx.progress({ percent: 100, stage: 'done' });
        return {
          asset: spec.asset,
          durationSec: Number(r.durationSec.toFixed(3)),
          speedX: Number(r.speedX.toFixed(2)),
          bytes: r.bytes,
          passthrough: r.passthrough,
          renditions: r.asset.renditions.map((x) => x.description.name),
          hls: `/vod/${spec.asset}/master.m3u8`,
          dash: `/vod/${spec.asset}/manifest.mpd`,
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } catch (err) {
      if (permanent(err)) {
        if (spec.kind === 'package') await d.cold.deleteMany([spec.sourceKey]).catch(() => 0);
        throw new PermanentJobError((err as Error).message);
      }
      throw err;
    }
  };
}
