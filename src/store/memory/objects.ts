/** The in-memory ObjectStore (same rules as the Redis adapter: TTLs, uploads superseded by id, atomic complete). */
import { splitObjectPath } from '../object-path.js';
import type {
  ObjectEvent,
  ObjectItem,
  ObjectMeta,
  ObjectStore,
  ObjectUpload,
  Subscription,
} from '../ports.js';
import { listenIn } from './listeners.js';

interface Stored {
  meta: ObjectMeta;
  bytes: Buffer;
  expiresAt: number;
}
interface Pending {
  upload: ObjectUpload;
  chunks: Buffer[];
  expiresAt: number;
}

export class MemoryObjects implements ObjectStore {
  private readonly objects = new Map<string, Stored>();
  private readonly uploads = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(ev: ObjectEvent) => void>>();

  constructor(
    private readonly now: () => number,
    private readonly check: () => void = () => undefined,
  ) {}

  private emit(path: string, ev: ObjectEvent): void {
    const set = this.listeners.get(path);
    if (!set) return;
    queueMicrotask(() => {
      for (const l of [...set]) l({ ...ev });
    });
  }

  private live(path: string): Stored | undefined {
    const o = this.objects.get(path);
    if (o && o.expiresAt <= this.now()) this.objects.delete(path);
    return o && o.expiresAt > this.now() ? o : undefined;
  }

  private pending(path: string, id?: string): Pending | undefined {
    const u = this.uploads.get(path);
    if (u && u.expiresAt <= this.now()) this.uploads.delete(path);
    if (!u || u.expiresAt <= this.now()) return undefined;
    return id === undefined || u.upload.id === id ? u : undefined;
  }

  async put(path: string, bytes: Uint8Array, meta: ObjectMeta, ttlSec: number): Promise<void> {
    splitObjectPath(path);
    this.check();
    this.objects.set(path, {
      meta: { ...meta },
      bytes: Buffer.from(bytes),
      expiresAt: this.now() + ttlSec * 1000,
    });
  }

  async begin(path: string, upload: ObjectUpload, ttlSec: number): Promise<void> {
    splitObjectPath(path);
    this.check();
    this.uploads.set(path, { upload: { ...upload }, chunks: [], expiresAt: this.now() + ttlSec * 1000 });
  }

  async append(path: string, id: string, chunk: Uint8Array): Promise<number | undefined> {
    this.check();
    const u = this.pending(path, id);
    if (!u) return undefined;
    u.chunks.push(Buffer.from(chunk));
    this.emit(path, { t: 'chunk', id, n: u.chunks.length });
    return u.chunks.length;
  }

  async complete(path: string, id: string, meta: ObjectMeta, ttlSec: number): Promise<boolean> {
    this.check();
    const u = this.pending(path, id);
    if (!u) return false;
    this.uploads.delete(path);
    await this.put(path, Buffer.concat(u.chunks), { ...meta, uploadId: id }, ttlSec);
    this.emit(path, { t: 'done', id });
    return true;
  }

  async abort(path: string, id: string): Promise<void> {
    this.check();
    if (!this.pending(path, id)) return;
    this.uploads.delete(path);
    this.emit(path, { t: 'abort', id });
  }

  async describe(path: string): Promise<ObjectMeta | undefined> {
    this.check();
    const o = this.live(path);
    return o && { ...o.meta };
  }

  async read(
    path: string,
    range?: { start: number; end: number },
  ): Promise<{ meta: ObjectMeta; bytes: Buffer } | undefined> {
    this.check();
    const o = this.live(path);
    if (!o) return undefined;
    const bytes = range ? o.bytes.subarray(range.start, range.end + 1) : o.bytes;
    return { meta: { ...o.meta }, bytes: Buffer.from(bytes) };
  }

  async upload(path: string): Promise<ObjectUpload | undefined> {
    this.check();
    const u = this.pending(path);
    return u && { ...u.upload };
  }

  async chunks(path: string, id: string, from: number): Promise<Buffer[] | undefined> {
    this.check();
    const u = this.pending(path, id);
    return u ? u.chunks.slice(from) : undefined;
  }

  async delete(path: string): Promise<boolean> {
    this.check();
    const had = this.live(path) !== undefined;
    this.objects.delete(path);
    return had;
  }

  async list(folder: string, max: number, after?: string): Promise<{ items: ObjectItem[]; more: boolean }> {
    this.check();
    const base = `${folder}/`;
    const names = new Map<string, ObjectItem>();
    for (const path of [...this.objects.keys()]) {
      if (!path.startsWith(base)) continue;
      const o = this.live(path);
      if (!o) continue;
      const rest = path.slice(base.length);
      const i = rest.indexOf('/');
      if (i >= 0) names.set(`${rest.slice(0, i)}/`, { name: rest.slice(0, i), type: 'FOLDER' });
      else names.set(rest, { name: rest, type: 'OBJECT', meta: { ...o.meta } });
    }
    const sorted = [...names.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const rest = sorted.filter(([k]) => after === undefined || k > after);
    return { items: rest.slice(0, max).map(([, v]) => v), more: rest.length > max };
  }

  watch(path: string, fn: (ev: ObjectEvent) => void): Subscription {
    return listenIn(this.listeners, path, fn);
  }
}
