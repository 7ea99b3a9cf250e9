/**
 * The disk cold tier: one file per key under a root directory (`{dir}/live/{stream}/{rendition}/seg-N.m4s`).
 * - Atomic writes: bytes go to a temporary file beside the target (`.tmp-…`, never listed), are flushed
 *   (fdatasync) and renamed over the key: a reader sees the whole object or none, even after a crash.
 * - Nothing is stored beside the object: its meta is derived. ETag = coldEtag(key, size) (what the reader serves
 *   for the hot copy), length and Last-Modified from stat, content type from the file extension.
 * - Filesystem refusals that mean "the tier cannot take this now" (read-only, full, permission, I/O, out of
 *   descriptors) are ColdTierUnavailableError; a missing file is null.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { coldEtag } from '../../../core/index.js';
import { ColdTierUnavailableError } from '../../errors.js';
import type { ColdObjectMeta, ColdTier } from '../../ports.js';
import type { DiskColdSettings } from '../types.js';

/** errno codes of a filesystem that cannot take or give objects now (not a bug of the caller). */
const UNAVAILABLE = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ENOTDIR',
  'ESTALE',
  'ENOTCONN',
  'EBUSY',
  'EAGAIN',
]);

const TMP_PREFIX = '.tmp-';

/** Content types by extension (the disk tier keeps no meta file). */
const TYPES: Array<[string, string]> = [
  ['.m4s', 'video/iso.segment'],
  ['.mp4', 'video/mp4'],
  ['.m4a', 'audio/mp4'],
  ['.m3u8', 'application/vnd.apple.mpegurl'],
  ['.mpd', 'application/dash+xml'],
  ['.json', 'application/json'],
  ['.vtt', 'text/vtt'],
];

export function diskContentType(key: string): string {
  for (const [ext, type] of TYPES) if (key.endsWith(ext)) return type;
  return 'application/octet-stream';
}

function errno(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Rethrows a filesystem refusal as ColdTierUnavailableError (with the errno and path), anything else as is. */
function unavailable(err: unknown, what: string): never {
  const code = errno(err);
  if (code && UNAVAILABLE.has(code)) {
    throw new ColdTierUnavailableError(`disk cold tier: ${what}: ${code}`, { cause: err });
  }
  throw err;
}

/** A key must be a relative path of safe segments: no "..", no empty or dot segments, no backslashes. */
const KEY_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
export function assertColdKey(key: string): void {
  const parts = key.split('/');
  if (parts.length === 0 || parts.some((p) => !KEY_SEGMENT.test(p) || p.startsWith(TMP_PREFIX))) {
    throw new Error(`invalid cold key ${JSON.stringify(key)}`);
  }
}

export class DiskColdTier implements ColdTier {
  readonly kind = 'disk';

  constructor(readonly dir: string) {}

  private path(key: string): string {
    assertColdKey(key);
    return join(this.dir, ...key.split('/'));
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<ColdObjectMeta> {
    void contentType; // derived from the extension when read back
    const target = this.path(key);
    const tmp = join(dirname(target), `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dirname(target), { recursive: true });
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      // ENOENT here: a directory could not be created (Node's recursive mkdir reports it on a read-only
      // filesystem) or the root vanished (an unmounted disk): the tier cannot take writes now.
      if (errno(err) === 'ENOENT') {
        throw new ColdTierUnavailableError(`disk cold tier: put ${key}: ENOENT`, { cause: err });
      }
      unavailable(err, `put ${key}`);
    }
    return {
      contentType: diskContentType(key),
      etag: coldEtag(key, bytes.byteLength),
      byteLength: bytes.byteLength,
      lastModifiedMs: Date.now(),
    };
  }

  async get(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ bytes: Buffer; meta: ColdObjectMeta } | null> {
    const p = this.path(key);
    let fh;
    try {
      fh = await open(p, 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      unavailable(err, `get ${key}`);
    }
    try {
      const st = await fh.stat();
      const meta = this.meta(key, st.size, st.mtimeMs);
      const start = range ? Math.min(range.start, st.size) : 0;
      const end = range ? Math.min(range.end, st.size - 1) : st.size - 1;
      const length = Math.max(0, end - start + 1);
      const bytes = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(bytes, got, length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return { bytes: got === length ? bytes : bytes.subarray(0, got), meta };
    } catch (err) {
      unavailable(err, `get ${key}`);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ColdObjectMeta | null> {
    try {
      const st = await stat(this.path(key));
      return st.isFile() ? this.meta(key, st.size, st.mtimeMs) : null;
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      unavailable(err, `head ${key}`);
    }
  }

  async list(prefix: string, max: number, after?: string): Promise<{ keys: string[]; more: boolean }> {
    // Walk from the deepest directory the prefix names; keys are file paths relative to the root.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const keys: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(rel ? join(this.dir, ...rel.split('/')) : this.dir, { withFileTypes: true });
      } catch (err) {
        if (errno(err) === 'ENOENT') return;
        unavailable(err, `list ${prefix}`);
      }
      for (const e of entries) {
        if (e.name.startsWith(TMP_PREFIX)) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          // Descend only where keys under the prefix can be.
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (e.isFile() && key.startsWith(prefix) && (after === undefined || key > after)) {
          keys.push(key);
        }
      }
    };
    if (base && base.split('/').some((p) => !KEY_SEGMENT.test(p))) return { keys: [], more: false };
    await walk(base);
    keys.sort();
    return { keys: keys.slice(0, max), more: keys.length > max };
  }

  async deleteMany(keys: string[]): Promise<number> {
    let n = 0;
    for (const key of keys) {
      try {
        await unlink(this.path(key));
        n++;
      } catch (err) {
        if (errno(err) === 'ENOENT') continue;
        unavailable(err, `delete ${key}`);
      }
    }
    return n;
  }

  async close(): Promise<void> {}

  private meta(key: string, size: number, mtimeMs: number): ColdObjectMeta {
    return {
      contentType: diskContentType(key),
      etag: coldEtag(key, size),
      byteLength: size,
      lastModifiedMs: Math.floor(mtimeMs),
    };
  }
}

/** Opens (creating when absent) the tier's root directory. */
export async function openDiskColdTier(s: DiskColdSettings): Promise<DiskColdTier> {
  try {
    await mkdir(s.dir, { recursive: true });
  } catch (err) {
    unavailable(err, `create ${s.dir}`);
  }
  return new DiskColdTier(s.dir.endsWith(sep) ? s.dir.slice(0, -1) : s.dir);
}
