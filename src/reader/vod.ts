/**
 * VOD assets (issue #11) at /vod/{asset}/master.m3u8, /vod/{asset}/manifest.mpd, /vod/{asset}/{rendition}/index.m3u8
 * and the media under them, read from the cold tier. An asset is served only once published (its asset.json
 * exists), and never changes after that: every answer, manifests included, is immutable for the CDN, and small
 * objects are kept in process (bounded by bytes) so a popular asset is read from the cold tier once per reader.
 */
import { isSafeName, parseObjectName } from '../core/names/names.js';
import { VOD_ASSET_FILE } from '../core/vod/asset.js';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { ColdObjectMeta, ObjectMeta, ObjectStore } from '../store/ports.js';
import type { VodAssets } from '../vod/assets.js';
import { ReaderError } from './errors.js';
import { contentType, parseRange } from './http-policy.js';
import type { Exchange } from './respond.js';

export const VOD_PREFIX = '/vod/';

/** Published assets never change: a year, immutable. */
export const VOD_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** The asset and the file path inside it a URL names, or undefined when it is not one of ours. */
export function vodRoute(pathname: string): { asset: string; path: string; rendition?: string } | undefined {
  if (!pathname.startsWith(VOD_PREFIX)) return undefined;
  const parts = pathname.slice(VOD_PREFIX.length).split('/');
  const asset = parts[0]!;
  if (!isSafeName(asset)) return undefined;
  if (parts.length === 2) {
    const f = parts[1]!;
    return f === 'master.m3u8' || f === 'manifest.mpd' ? { asset, path: f } : undefined;
  }
  if (parts.length !== 3) return undefined;
  const [, rendition, file] = parts as [string, string, string];
  if (!isSafeName(rendition)) return undefined;
  const o = parseObjectName(file);
  if (file !== 'index.m3u8' && (!o || o.kind === 'part')) return undefined;
  return { asset, path: `${rendition}/${file}`, rendition };
}

interface Cached {
  bytes: Buffer;
  meta: ColdObjectMeta;
}

/** Small byte-bounded LRU of whole objects (insertion order = recency). */
class Lru {
  private map = new Map<string, Cached>();
  private total = 0;
  constructor(readonly maxBytes: number) {}
  get(k: string): Cached | undefined {
    const v = this.map.get(k);
    if (v) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: Cached): void {
    if (v.bytes.length > this.maxBytes / 4 || this.map.has(k)) return;
    this.map.set(k, v);
    this.total += v.bytes.length;
    for (const [key, old] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(key);
      this.total -= old.bytes.length;
    }
  }
}

/** Promotion of popular VOD objects into the hot tier (issue #11: "cold by default, hot when popular"). */
export interface VodPromotion {
  /** The hot tier's copies, shared by every reader. */
  hot: ObjectStore;
  /** Promote after more than this many cold reads of one object within windowMs (0: never). */
  after: number;
  windowMs: number;
  ttlSec: number;
  log?: Logger;
  metrics?: { reads?: Counter<'tier'>; promotions?: Counter };
  now?: () => number;
}

const MAX_TRACKED = 10_000;

export class VodObjects {
  private readonly cache: Lru;
  /** Assets seen published (immutable once published, so the answer is kept). */
  private readonly published = new Set<string>();
  /** Cold reads per object within the promotion window. */
  private readonly reads = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly assets: VodAssets,
    cacheBytes = 64 * 1024 * 1024,
    private readonly promotion?: VodPromotion,
  ) {
    this.cache = new Lru(cacheBytes);
  }

  /**
   * An object of a published asset: this process's cache, then the hot tier (promoted copies), then the cold tier.
   * A hot tier that cannot answer is skipped (the cold copy is the truth); a cold read counts towards promotion.
   */
  private async load(asset: string, path: string): Promise<Cached | undefined> {
    const key = `${asset}/${path}`;
    const inProcess = this.cache.get(key);
    if (inProcess) return inProcess;
    const p = this.promotion;
    const hot = p && (await p.hot.read(key).catch(() => undefined));
    if (hot) {
      const got: Cached = {
        bytes: hot.bytes,
        meta: {
          contentType: hot.meta.contentType,
          etag: hot.meta.etag,
          byteLength: hot.meta.length,
          lastModifiedMs: hot.meta.lastModifiedMs,
        },
      };
      p.metrics?.reads?.inc({ tier: 'hot' });
      this.cache.set(key, got);
      return got;
    }
    const got = await this.assets.read(asset, path);
    if (!got) return undefined;
    p?.metrics?.reads?.inc({ tier: 'cold' });
    this.cache.set(key, got);
    if (p) this.countColdRead(p, key, got);
    return got;
  }

  private countColdRead(p: VodPromotion, key: string, got: Cached): void {
    if (p.after <= 0) return;
    const t = (p.now ?? Date.now)();
    let r = this.reads.get(key);
    if (!r || t - r.since > p.windowMs) {
      if (!r && this.reads.size >= MAX_TRACKED) this.reads.delete(this.reads.keys().next().value!);
      r = { count: 0, since: t };
      this.reads.set(key, r);
    }
    if (++r.count !== p.after + 1) return;
    const meta: ObjectMeta = {
      contentType: got.meta.contentType,
      etag: got.meta.etag,
      sha256: createHash('sha256').update(got.bytes).digest('hex'),
      length: got.bytes.length,
      lastModifiedMs: got.meta.lastModifiedMs,
    };
    p.hot.put(key, got.bytes, meta, p.ttlSec).then(
      () => p.metrics?.promotions?.inc(),
      (err: unknown) =>
        p.log?.warn(
          { object: key, err: err instanceof Error ? err.message : String(err) },
          'promotion of a VOD object into the hot tier failed',
        ),
    );
  }

  private async isPublished(asset: string): Promise<boolean> {
    if (this.published.has(asset)) return true;
    const ok = (await this.assets.head(asset, VOD_ASSET_FILE)) !== null;
    if (ok) {
      if (this.published.size > 100_000) this.published.clear();
      this.published.add(asset);
    }
    return ok;
  }

  async serve(x: Exchange, pathname: string): Promise<void> {
    const r = vodRoute(pathname);
    if (!r || !(await this.isPublished(r.asset))) throw new ReaderError('NOT_FOUND');
    const obj = await this.load(r.asset, r.path);
    if (!obj) throw new ReaderError('NOT_FOUND');
    const { req, res } = x;
    const size = obj.bytes.length;
    res.setHeader('Content-Type', contentType(r.path, r.rendition));
    res.setHeader('Cache-Control', VOD_CACHE_CONTROL);
    res.setHeader('ETag', obj.meta.etag);
    res.setHeader('Last-Modified', new Date(obj.meta.lastModifiedMs).toUTCString());
    res.setHeader('Accept-Ranges', 'bytes');
    const count = (status: number): void => x.metrics.httpRequests.inc({ class: 'media', status });
    if (req.headers['if-none-match'] === obj.meta.etag) {
      res.statusCode = 304;
      count(304);
      res.end();
      return;
    }
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable')
      throw new ReaderError('RANGE_NOT_SATISFIABLE', undefined, { 'Content-Range': `bytes */${size}` });
    const body = range ? obj.bytes.subarray(range.start, range.end + 1) : obj.bytes;
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    }
    res.setHeader('Content-Length', body.length);
    count(res.statusCode);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
