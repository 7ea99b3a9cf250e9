/**
 * VOD assets in the cold tier (issue #11): `vod/{asset}/...` holds the asset's own init and segment copies, its
 * manifests (rendered once) and asset.json, its description. asset.json is written last and is what publishes
 * the asset: the reader serves nothing of an asset without it, so a packaging or harvest that fails half-way
 * leaves nothing visible (and deletes what it wrote). Published assets are immutable: a second publish of the
 * same name is refused.
 */
import { coldKey } from '../core/names/cold.js';
import { isSafeName } from '../core/names/names.js';
import { type VodAsset, VOD_ASSET_FILE, renderVodManifests } from '../core/vod/asset.js';
import type { ColdObjectMeta, ColdTier } from '../store/ports.js';

export const MP4_TYPE = 'video/mp4';

export class VodAssetExistsError extends Error {
  override readonly name = 'VodAssetExistsError';
  constructor(readonly asset: string) {
    super(`asset ${asset} already exists (assets are immutable)`);
  }
}

/** Files written by one packaging or harvest attempt, so a failure can take them back. */
export class VodWrites {
  readonly keys = new Set<string>();
  bytes = 0;
}

export class VodAssets {
  constructor(readonly cold: ColdTier) {}

  /** The published asset's description, or undefined (unknown, or not yet published). */
  async describe(name: string): Promise<VodAsset | undefined> {
    if (!isSafeName(name)) return undefined;
    const r = await this.cold.get(coldKey.vod(name, VOD_ASSET_FILE));
    if (!r) return undefined;
    return JSON.parse(r.bytes.toString('utf8')) as VodAsset;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.cold.head(coldKey.vod(name, VOD_ASSET_FILE))) !== null;
  }

  /** Stores one media object of an unpublished asset (idempotent: a retried job writes the same bytes). */
  async putMedia(name: string, path: string, bytes: Uint8Array, w: VodWrites): Promise<ColdObjectMeta> {
    const key = coldKey.vod(name, path);
    w.keys.add(key);
    const meta = await this.cold.put(key, bytes, MP4_TYPE);
    w.bytes += bytes.length;
    return meta;
  }

  /** Renders and stores the manifests, then asset.json: from that write on the asset is served. */
  async publish(asset: VodAsset, w: VodWrites): Promise<void> {
    if (await this.exists(asset.name)) throw new VodAssetExistsError(asset.name);
    for (const f of renderVodManifests(asset)) {
      const key = coldKey.vod(asset.name, f.path);
      w.keys.add(key);
      await this.cold.put(key, Buffer.from(f.body), f.contentType);
    }
    await this.cold.put(
      coldKey.vod(asset.name, VOD_ASSET_FILE),
      Buffer.from(JSON.stringify(asset)),
      'application/json',
    );
  }

  /** Deletes what a failed attempt wrote (never asset.json: a failed attempt did not write it). */
  async discard(w: VodWrites): Promise<number> {
    const keys = [...w.keys];
    let n = 0;
    for (let i = 0; i < keys.length; i += 500) n += await this.cold.deleteMany(keys.slice(i, i + 500));
    w.keys.clear();
    return n;
  }

  /** A published asset's file (a manifest or a media object), a byte range when given. */
  async read(
    name: string,
    path: string,
    range?: { start: number; end: number },
  ): Promise<{ bytes: Buffer; meta: ColdObjectMeta } | null> {
    return this.cold.get(coldKey.vod(name, path), range);
  }

  async head(name: string, path: string): Promise<ColdObjectMeta | null> {
    return this.cold.head(coldKey.vod(name, path));
  }
}
