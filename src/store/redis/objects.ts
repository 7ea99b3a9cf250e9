/**
 * The ObjectStore on Redis (issue #10, decision 009). Every key of a container carries the hash tag
 * {o:<container>}, so an object's bytes, metadata, upload and chunk list and its folders' indexes share one slot
 * (scripts and pipelines stay on one Cluster node). Keys, under `<prefix>:{o:<container>}`:
 *   :m:<rest>   metadata (JSON), TTL of the object        :b:<rest>   bytes, same TTL
 *   :u:<rest>   STREAMING upload record (JSON: id, ...)    :c:<rest>   its chunks (list), TTL of the upload
 *   :d:<folder> the folder's item names (sorted set, lexical; "name/" for a sub-folder), written after the
 *               object and cleaned lazily when a listing meets an expired name
 *   :e:<rest>   the path's upload events (sharded pub/sub)
 * Writes are Lua scripts (lua/*Object*, *Upload*, *Chunk*), so an object appears whole or not at all.
 */
import { readFileSync } from 'node:fs';
import { folderEntries, splitObjectPath } from '../object-path.js';
import type {
  ObjectEvent,
  ObjectItem,
  ObjectMeta,
  ObjectStore,
  ObjectUpload,
  Subscription,
} from '../ports.js';
import type { Client } from './connection.js';
import { ShardedChannels } from './sharded-channels.js';

const SCRIPTS = {
  putObject: 'putObject-2',
  beginUpload: 'beginUpload-2',
  appendChunk: 'appendChunk-2',
  completeUpload: 'completeUpload-4',
  abortUpload: 'abortUpload-2',
  readChunks: 'readChunks-2',
} as const;

function defineObjectScripts(client: Client): void {
  for (const [name, file] of Object.entries(SCRIPTS)) {
    if (name in client) continue;
    client.defineCommand(name, {
      numberOfKeys: Number(file.split('-')[1]),
      lua: readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8'),
    });
  }
}

type Arg = string | number | Buffer | Uint8Array;
type Runner = (...a: Arg[]) => Promise<unknown>;
const script = (c: Client, name: string): Runner => {
  const fn = (c as unknown as Record<string, Runner>)[name]!;
  return (...a) => fn.call(c, ...a);
};

/** The keys of one path (built here and nowhere else). */
export class ObjectKeys {
  readonly tag: string;
  readonly container: string;
  readonly rest: string;
  constructor(prefix: string, path: string, folder = false) {
    const { container, rest } = splitObjectPath(path, folder);
    this.container = container;
    this.rest = rest;
    this.tag = `${prefix}:{o:${container}}`;
  }
  get meta(): string {
    return `${this.tag}:m:${this.rest}`;
  }
  get bytes(): string {
    return `${this.tag}:b:${this.rest}`;
  }
  get upload(): string {
    return `${this.tag}:u:${this.rest}`;
  }
  get chunks(): string {
    return `${this.tag}:c:${this.rest}`;
  }
  get events(): string {
    return `${this.tag}:e:${this.rest}`;
  }
  /** A folder's index; folder "" is the container itself, otherwise "a/b/". */
  folder(folder: string): string {
    return `${this.tag}:d:${folder}`;
  }
}

interface StoredMeta {
  ct: string;
  cc?: string;
  etag: string;
  sha: string;
  len: number;
  lm: number;
  up?: string;
}
const toStored = (m: ObjectMeta): string =>
  JSON.stringify({
    ct: m.contentType,
    cc: m.cacheControl,
    etag: m.etag,
    sha: m.sha256,
    len: m.length,
    lm: m.lastModifiedMs,
    up: m.uploadId,
  } satisfies StoredMeta);
const fromStored = (raw: string): ObjectMeta => {
  const s = JSON.parse(raw) as StoredMeta;
  return {
    contentType: s.ct,
    ...(s.cc !== undefined ? { cacheControl: s.cc } : {}),
    etag: s.etag,
    sha256: s.sha,
    length: s.len,
    lastModifiedMs: s.lm,
    ...(s.up !== undefined ? { uploadId: s.up } : {}),
  };
};

/** No copy when the bytes already are a Buffer (1 MB objects: a copy each is measurable). */
const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export class RedisObjectStore implements ObjectStore {
  private readonly channels: ShardedChannels<ObjectEvent> | undefined;

  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
    /** The subscriber connection (processes that watch uploads: readers). */
    private readonly sub?: Client,
  ) {
    defineObjectScripts(redis);
    // Uploads are short: a path's channel is dropped soon after its last reader leaves.
    this.channels = sub
      ? new ShardedChannels<ObjectEvent>(sub, 5_000, (raw) => {
          try {
            return JSON.parse(raw) as ObjectEvent;
          } catch {
            return undefined;
          }
        })
      : undefined;
  }

  private keys(path: string, folder = false): ObjectKeys {
    return new ObjectKeys(this.prefix, path, folder);
  }

  /** Lists the object in its folders (after the object itself: an index entry may outlive it, never precede it). */
  private async index(k: ObjectKeys, ttlSec: number): Promise<void> {
    const p = this.redis.pipeline();
    for (const [folder, item] of folderEntries(k.rest)) {
      const key = k.folder(folder);
      p.zadd(key, 0, item);
      p.expire(key, ttlSec, 'NX');
      p.expire(key, ttlSec, 'GT');
    }
    await p.exec();
  }

  private async announce(k: ObjectKeys, ev: ObjectEvent): Promise<void> {
    await this.redis.spublish(k.events, JSON.stringify(ev));
  }

  async put(path: string, bytes: Uint8Array, meta: ObjectMeta, ttlSec: number): Promise<void> {
    const k = this.keys(path);
    await script(this.redis, 'putObject')(k.meta, k.bytes, asBuffer(bytes), ttlSec, toStored(meta));
    await this.index(k, ttlSec);
  }

  async begin(path: string, upload: ObjectUpload, ttlSec: number): Promise<void> {
    const k = this.keys(path);
    await script(this.redis, 'beginUpload')(k.upload, k.chunks, JSON.stringify(upload), ttlSec);
  }

  async append(path: string, id: string, chunk: Uint8Array): Promise<number | undefined> {
    const k = this.keys(path);
    const n = Number(await script(this.redis, 'appendChunk')(k.upload, k.chunks, id, asBuffer(chunk)));
    if (n < 0) return undefined;
    await this.announce(k, { t: 'chunk', id, n });
    return n;
  }

  async complete(path: string, id: string, meta: ObjectMeta, ttlSec: number): Promise<boolean> {
    const k = this.keys(path);
    const r = Number(
      await script(this.redis, 'completeUpload')(
        k.upload,
        k.chunks,
        k.meta,
        k.bytes,
        id,
        ttlSec,
        toStored({ ...meta, uploadId: id }),
      ),
    );
    if (r === -2) throw new Error(`upload of ${path}: chunks do not add up to ${meta.length} bytes`);
    if (r !== 1) return false;
    await this.index(k, ttlSec);
    await this.announce(k, { t: 'done', id });
    return true;
  }

  async abort(path: string, id: string): Promise<void> {
    const k = this.keys(path);
    const r = Number(await script(this.redis, 'abortUpload')(k.upload, k.chunks, id));
    if (r === 1) await this.announce(k, { t: 'abort', id });
  }

  async describe(path: string): Promise<ObjectMeta | undefined> {
    const raw = await this.redis.get(this.keys(path).meta);
    return raw === null ? undefined : fromStored(raw);
  }

  async read(
    path: string,
    range?: { start: number; end: number },
  ): Promise<{ meta: ObjectMeta; bytes: Buffer } | undefined> {
    const k = this.keys(path);
    const p = this.redis.multi();
    p.get(k.meta);
    if (range) p.getrangeBuffer(k.bytes, range.start, range.end);
    else p.getBuffer(k.bytes);
    const res = await p.exec();
    const raw = res?.[0]?.[1] as string | null | undefined;
    const bytes = res?.[1]?.[1] as Buffer | null | undefined;
    if (!raw || !bytes) return undefined;
    return { meta: fromStored(raw), bytes };
  }

  async upload(path: string): Promise<ObjectUpload | undefined> {
    const raw = await this.redis.get(this.keys(path).upload);
    return raw === null ? undefined : (JSON.parse(raw) as ObjectUpload);
  }

  async chunks(path: string, id: string, from: number): Promise<Buffer[] | undefined> {
    const k = this.keys(path);
    const fn = script(this.redis, 'readChunksBuffer');
    const r = await fn(k.upload, k.chunks, id, from);
    return Array.isArray(r) ? (r as Buffer[]) : undefined;
  }

  async delete(path: string): Promise<boolean> {
    const k = this.keys(path);
    const n = await this.redis.del(k.meta, k.bytes);
    return n > 0;
  }

  async list(folder: string, max: number, after?: string): Promise<{ items: ObjectItem[]; more: boolean }> {
    const k = this.keys(folder, true);
    const f = k.rest === '' ? '' : `${k.rest}/`;
    const index = k.folder(f);
    const start = after === undefined ? '-' : `(${after}`;
    const names = await this.redis.zrangebylex(index, start, '+', 'LIMIT', 0, max + 1);
    const more = names.length > max;
    const page = names.slice(0, max);
    const p = this.redis.pipeline();
    for (const n of page) {
      if (n.endsWith('/')) p.exists(k.folder(`${f}${n}`));
      else p.get(`${k.tag}:m:${f}${n}`);
    }
    const res = (await p.exec()) ?? [];
    const items: ObjectItem[] = [];
    const stale: string[] = [];
    page.forEach((n, i) => {
      const v = res[i]?.[1];
      if (n.endsWith('/')) {
        if (v === 1) items.push({ name: n.slice(0, -1), type: 'FOLDER' });
        else stale.push(n);
      } else if (typeof v === 'string') items.push({ name: n, type: 'OBJECT', meta: fromStored(v) });
      else stale.push(n);
    });
    if (stale.length) await this.redis.zrem(index, ...stale);
    return { items, more };
  }

  watch(path: string, fn: (ev: ObjectEvent) => void): Subscription {
    if (!this.channels) throw new Error('this object store has no subscriber connection');
    return this.channels.listen(this.keys(path).events, fn);
  }

  close(): void {
    this.channels?.close();
  }
}
