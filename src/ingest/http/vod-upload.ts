/**
 * VOD upload on the ingest HTTP listener (issue #11): `PUT /vod/{name}` with a media file (MP4/MOV/MKV) as the
 * body, `?stream=S` for that stream's ladder, `?mode=ladder|passthrough|auto`. The body goes to a temporary file
 * and is probed at once: a file that is not media, or truncated before its index, is answered 400 with ffprobe's
 * reason and nothing is kept. A readable file is staged in the cold tier (uploads/...) and a packaging job is
 * queued (202 with the job; progress at GET /api/v1/jobs/{id}); the asset appears at /vod/{name}/ when the job
 * has published it. With control API tokens configured, an admin token is required (Authorization: Bearer).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { probeFile } from '../../adapters/ffmpeg/probe.js';
import { ApiTokens, type ApiToken, allows, bearer } from '../../api/auth.js';
import { isSafeName } from '../../core/names/names.js';
import type { Logger } from '../../log.js';
import type { AssetJobQueue } from '../../queue/ports.js';
import type { ColdTier } from '../../store/ports.js';
import type { VodAssets } from '../../vod/assets.js';
import type { HttpMount } from './types.js';

export const VOD_UPLOAD_PREFIX = '/vod/';

export interface VodUploadOptions {
  cold: ColdTier;
  assets: VodAssets;
  jobs: AssetJobQueue;
  /** Control API tokens: when any is configured, an admin one is required. */
  tokens: ApiToken[];
  ffmpegPath: string;
  /** Streams whose ladder an upload may name. */
  streams: string[];
  /** Largest upload, bytes. */
  maxBytes: number;
  log: Logger;
}

/** The cold-tier key an upload is staged under until packaged. */
export const uploadKey = (asset: string): string => `uploads/${asset}-${randomUUID()}`;

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? `${body}\n` : JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

export function vodUploadMount(o: VodUploadOptions): HttpMount {
  const log = o.log.child({ component: 'vod-upload' });
  const tokens = new ApiTokens(o.tokens);
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://ingest');
    const name = url.pathname.slice(VOD_UPLOAD_PREFIX.length);
    const refuse = (status: number, text: string): void => {
      log.info({ asset: name.slice(0, 64), status, reason: text }, 'VOD upload refused');
      // Do not read a refused body: close the connection after the answer.
      res.setHeader('Connection', 'close');
      answer(res, status, text);
    };
    if (req.method !== 'PUT' && req.method !== 'POST') {
      res.setHeader('Allow', 'PUT, POST');
      return refuse(405, 'METHOD_NOT_ALLOWED: PUT /vod/{name} with the file as the body');
    }
    if (o.tokens.length > 0) {
      const a = tokens.check(bearer(req.headers.authorization));
      if (!a.ok) return refuse(401, 'UNAUTHORIZED: an admin API token is required');
      if (!allows(a.scope, 'admin')) return refuse(403, 'FORBIDDEN: an admin API token is required');
    }
    if (!isSafeName(name))
      return refuse(400, 'BAD_REQUEST: the asset name must be 1-64 characters A-Z a-z 0-9 _ -');
    const stream = url.searchParams.get('stream') ?? undefined;
    if (stream !== undefined && !o.streams.includes(stream))
      return refuse(404, `NOT_FOUND: no stream ${stream} in the config`);
    const mode = url.searchParams.get('mode') ?? 'ladder';
    if (mode !== 'ladder' && mode !== 'passthrough' && mode !== 'auto')
      return refuse(400, 'BAD_REQUEST: mode must be ladder, passthrough or auto');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > o.maxBytes) return refuse(413, `PAYLOAD_TOO_LARGE: at most ${o.maxBytes} bytes`);
    if (await o.assets.exists(name))
      return refuse(409, `ASSET_EXISTS: asset ${name} exists (assets are immutable)`);

    const dir = await mkdtemp(join(tmpdir(), 'ws-upload-'));
    try {
      const file = join(dir, 'upload');
      let n = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > o.maxBytes && !tooBig) {
          tooBig = true;
          req.unpipe();
          req.destroy();
        }
      });
      try {
        await pipeline(req, createWriteStream(file));
      } catch (err) {
        if (tooBig) return refuse(413, `PAYLOAD_TOO_LARGE: at most ${o.maxBytes} bytes`);
        log.warn(
          { asset: name, err: (err as Error).message, bytes: n },
          'VOD upload interrupted: nothing kept',
        );
        if (!res.headersSent) res.destroy();
        return;
      }
      if (n === 0) return refuse(400, 'BAD_REQUEST: the body is empty');
      try {
        const p = await probeFile(file, o.ffmpegPath);
        if (!p.videoCodec) return refuse(400, 'BAD_MEDIA: the file has no video stream');
      } catch (err) {
        return refuse(400, `BAD_MEDIA: ${(err as Error).message}`);
      }
      const key = uploadKey(name);
      await o.cold.put(key, await readFile(file), 'application/octet-stream');
      const { view, created } = await o.jobs.submit({
        kind: 'package',
        asset: name,
        sourceKey: key,
        sourceName: (url.searchParams.get('filename') ?? name).slice(0, 200),
        ...(stream ? { stream } : {}),
        mode,
      });
      if (!created) {
        await o.cold.deleteMany([key]);
        return refuse(409, `ASSET_EXISTS: asset ${name} is being made (job ${view.id})`);
      }
      log.info({ asset: name, bytes: n, job: view.id, stream, mode }, 'VOD upload accepted');
      answer(res, 202, {
        job: view,
        jobUrl: `/api/v1/jobs/${view.id}`,
        hls: `/vod/${name}/master.m3u8`,
        dash: `/vod/${name}/manifest.mpd`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  return { prefix: VOD_UPLOAD_PREFIX, handler };
}
