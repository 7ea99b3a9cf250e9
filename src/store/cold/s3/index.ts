/**
 * The S3 cold tier (@aws-sdk/client-s3): one object per key in a bucket (optionally under a prefix), on AWS or
 * any S3-compatible server (endpoint + path-style). PutObject, GetObject with Range, HeadObject, ListObjectsV2,
 * DeleteObjects in batches of 1000 (the API's limit).
 * - ETag: S3's own ETag is the MD5 of the bytes; the tier answers coldEtag(key, length) instead, the string the
 *   reader serves for the hot copy, so a client's If-None-Match works across tiers.
 * - Network failures, timeouts, throttling and 5xx are ColdTierUnavailableError (queue and retry); NoSuchKey /
 *   404 is null; anything else (403, a bad bucket name) is thrown as is: a configuration error, not an outage.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { coldEtag } from '../../../core/index.js';
import { ColdTierUnavailableError } from '../../errors.js';
import type { ColdObjectMeta, ColdTier } from '../../ports.js';
import type { S3ColdSettings } from '../types.js';

/** DeleteObjects takes at most 1000 keys per request. */
export const S3_DELETE_BATCH = 1000;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'ServiceUnavailable',
  'InternalError',
]);

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || status(err) === 404;
}

/** True when the error says the server could not be reached or could not answer now. */
export function isS3Unavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return true;
  if (THROTTLING.has(err.name)) return true;
  const s = status(err);
  if (s !== undefined && s >= 500) return true;
  if (s === 429) return true;
  // No HTTP answer at all (a socket error wrapped by the SDK).
  if (!(err instanceof S3ServiceException) && s === undefined) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause && cause !== err && isS3Unavailable(cause)) return true;
    return /socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT|getaddrinfo|EPIPE|other side closed/i.test(
      err.message,
    );
  }
  return false;
}

function rethrow(err: unknown, what: string): never {
  if (isS3Unavailable(err)) {
    const detail = err instanceof Error ? err.name + (err.message ? `: ${err.message}` : '') : String(err);
    throw new ColdTierUnavailableError(`s3 cold tier: ${what}: ${detail}`, { cause: err });
  }
  throw err;
}

export class S3ColdTier implements ColdTier {
  readonly kind = 's3';
  private readonly prefix: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    prefix = '',
  ) {
    this.prefix = prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix;
  }

  private meta(
    key: string,
    length: number,
    lastModified: Date | undefined,
    contentType?: string,
  ): ColdObjectMeta {
    return {
      contentType: contentType ?? 'application/octet-stream',
      etag: coldEtag(key, length),
      byteLength: length,
      lastModifiedMs: lastModified ? lastModified.getTime() : Date.now(),
    };
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<ColdObjectMeta> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: bytes,
          ContentType: contentType,
          ContentLength: bytes.byteLength,
        }),
      );
    } catch (err) {
      rethrow(err, `put ${key}`);
    }
    return this.meta(key, bytes.byteLength, new Date(), contentType);
  }

  async get(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ bytes: Buffer; meta: ColdObjectMeta } | null> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      const bytes = Buffer.from(await out.Body!.transformToByteArray());
      // Content-Range "bytes a-b/total" names the whole object's length when a range was asked for.
      const total = out.ContentRange ? Number(out.ContentRange.split('/')[1]) : bytes.length;
      return { bytes, meta: this.meta(key, total, out.LastModified, out.ContentType) };
    } catch (err) {
      if (isNotFound(err)) return null;
      // A range past the end: the object exists but the range is empty.
      if (range && (err as Error).name === 'InvalidRange') {
        const m = await this.head(key);
        return m ? { bytes: Buffer.alloc(0), meta: m } : null;
      }
      rethrow(err, `get ${key}`);
    }
  }

  async head(key: string): Promise<ColdObjectMeta | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return this.meta(key, out.ContentLength ?? 0, out.LastModified, out.ContentType);
    } catch (err) {
      if (isNotFound(err)) return null;
      rethrow(err, `head ${key}`);
    }
  }

  async list(prefix: string, max: number, after?: string): Promise<{ keys: string[]; more: boolean }> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      // ListObjectsV2 answers at most 1000 per page; StartAfter resumes after a key.
      for (;;) {
        const out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            StartAfter: token ? undefined : after !== undefined ? this.prefix + after : undefined,
            ContinuationToken: token,
            MaxKeys: Math.min(1000, max - keys.length + 1),
          }),
        );
        for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
        if (keys.length > max || !out.IsTruncated || !out.NextContinuationToken) {
          const more = keys.length > max || Boolean(out.IsTruncated);
          return { keys: keys.slice(0, max), more };
        }
        token = out.NextContinuationToken;
      }
    } catch (err) {
      rethrow(err, `list ${prefix}`);
    }
  }

  async deleteMany(keys: string[]): Promise<number> {
    let existed = 0;
    for (let i = 0; i < keys.length; i += S3_DELETE_BATCH) {
      const batch = keys.slice(i, i + S3_DELETE_BATCH);
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.prefix + k })), Quiet: false },
          }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          const e = failed[0]!;
          const err = new Error(
            `s3 DeleteObjects: ${failed.length} failed, first ${e.Key}: ${e.Code} ${e.Message ?? ''}`,
          );
          if (e.Code && (THROTTLING.has(e.Code) || e.Code === 'InternalError')) {
            throw new ColdTierUnavailableError(err.message, { cause: err });
          }
          throw err;
        }
        // S3 reports a delete of a missing key as deleted too: the count is what it reports.
        existed += out.Deleted?.length ?? 0;
      } catch (err) {
        if (err instanceof ColdTierUnavailableError) throw err;
        rethrow(err, `delete ${batch.length} keys`);
      }
    }
    return existed;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** Builds the client from settings (static credentials when given, else the SDK's default chain). */
export async function openS3ColdTier(s: S3ColdSettings): Promise<S3ColdTier> {
  const client = new S3Client({
    region: s.region,
    endpoint: s.endpoint,
    forcePathStyle: s.forcePathStyle,
    credentials:
      s.accessKeyId && s.secretAccessKey
        ? { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey }
        : undefined,
    // The archiver retries with its own backoff; the SDK retries a little within one call.
    maxAttempts: 2,
  });
  return new S3ColdTier(client, s.bucket, s.prefix ?? '');
}
