/**
 * The S3 cold tier (issue #11) against a real S3-API server (s3rver in a child process, tools/process/s3-server.ts).
 * First the server itself: the AWS SDK v3 calls the cold tier relies on (PutObject, GetObject with Range,
 * HeadObject, ListObjectsV2 with pagination, DeleteObjects, path-style) work against it, and its data survives
 * a stop/start. What this server does not prove is in the README ("S3 cold tier").
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '../../tools/process/s3-server.js';

let s3: S3Server;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  if (process.env.S3_DEBUG) console.log(s3?.output());
  client?.destroy();
  await s3?.close();
});

const body = async (r: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> =>
  Buffer.from(await r.Body!.transformToByteArray());

describe('s3rver as the S3 API the cold tier uses', () => {
  it('puts, gets whole and by range, heads, lists in pages and deletes many', async () => {
    const bytes = randomBytes(64 * 1024);
    const keys = Array.from({ length: 5 }, (_, i) => `live/cam/360p/seg-${i}.m4s`);
    for (const Key of keys) {
      await client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key, Body: bytes, ContentType: 'video/iso.segment' }),
      );
    }
    const whole = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keys[0] }));
    expect((await body(whole)).equals(bytes)).toBe(true);
    // S3's ETag of a single-part PUT is the MD5 of the bytes, quoted.
    expect(whole.ETag).toBe(`"${createHash('md5').update(bytes).digest('hex')}"`);

    const part = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: keys[0], Range: 'bytes=1000-1999' }),
    );
    expect(part.ContentRange).toBe(`bytes 1000-1999/${bytes.length}`);
    expect((await body(part)).equals(bytes.subarray(1000, 2000))).toBe(true);

    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keys[1] }));
    expect(head.ContentLength).toBe(bytes.length);
    expect(head.ContentType).toBe('video/iso.segment');

    const page1 = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'live/cam/', MaxKeys: 3 }),
    );
    expect(page1.Contents?.map((c) => c.Key)).toEqual([...keys].sort().slice(0, 3));
    expect(page1.IsTruncated).toBe(true);
    const page2 = await client.send(
      new ListObjectsV2Command({
        Bucket: s3.bucket,
        Prefix: 'live/cam/',
        MaxKeys: 3,
        StartAfter: page1.Contents!.at(-1)!.Key,
      }),
    );
    expect(page2.Contents?.map((c) => c.Key)).toEqual([...keys].sort().slice(3));
    expect(page2.IsTruncated).toBe(false);

    const del = await client.send(
      new DeleteObjectsCommand({
        Bucket: s3.bucket,
        Delete: { Objects: [...keys.slice(0, 3), 'live/cam/360p/never.m4s'].map((Key) => ({ Key })) },
      }),
    );
    expect(del.Errors ?? []).toEqual([]);
    const after = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'live/cam/' }));
    expect(after.Contents?.map((c) => c.Key)).toEqual(keys.slice(3));
    await expect(
      client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keys[0] })),
    ).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('refuses connections while stopped and serves the same objects after a restart on the same port', async () => {
    const Key = 'live/cam/360p/restart.m4s';
    const bytes = randomBytes(4096);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: bytes }));
    await s3.stop();
    expect(s3.pid()).toBe(-1);
    await expect(client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    await s3.start();
    const back = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
    expect((await body(back)).equals(bytes)).toBe(true);
  });
});
