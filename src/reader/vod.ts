/**
 * VOD assets (issue #11) at /vod/{asset}/master.m3u8, /vod/{asset}/manifest.mpd, /vod/{asset}/{rendition}/index.m3u8
 * and the media under them, read from the cold tier. An asset is served only once published (its asset.json
 * exists), and never changes after that: every answer, manifests included, is immutable for the CDN, and small
 * objects are kept in process (bounded by bytes) so a popular asset is read from the cold tier once per reader.
 */
import { isSafeName, parseObjectName } from '../core/names/names.js';
import { VOD_ASSET_FILE } from '../core/vod/asset.js';
import type { ColdObjectMeta } from '../store/ports.js';
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

export class VodObjects {
  private readonly cache: Lru;
  /** Assets seen published (immutable once published, so the answer is kept). */
  private readonly published = new Set<string>();

  constructor(
    private readonly assets: VodAssets,
    cacheBytes = 64 * 1024 * 1024,
  ) {
    this.cache = new Lru(cacheBytes);
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
    const key = `${r.asset}/${r.path}`;
    let obj = this.cache.get(key);
    if (!obj) {
      const got = await this.assets.read(r.asset, r.path);
      if (!got) throw new ReaderError('NOT_FOUND');
      obj = got;
      this.cache.set(key, got);
    }
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
