/**
 * Watch-folder ingest: an encoder writes files (an HLS playlist with TS or fMP4 segments, or CMAF init +
 * segments) into a directory; each completed media file is fed once, in order, to the stream's transcoder.
 * A half-written file is never read: with a playlist only listed segments are taken (encoders list a segment
 * after closing it); without one, a file is taken when its size has been stable (chokidar awaitWriteFinish).
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { Logger } from '../../../log.js';
import type { SessionOptions, StreamSession } from '../../stream-session.js';

type MediaFormat = 'mpegts' | 'mp4';

/** What the first bytes say a file is. */
export function sniffMedia(bytes: Uint8Array): MediaFormat | undefined {
  if (bytes.length >= 189 && bytes[0] === 0x47 && bytes[188] === 0x47) return 'mpegts';
  if (bytes.length >= 8) {
    const type = Buffer.from(bytes.subarray(4, 8)).toString('latin1');
    if (['ftyp', 'styp', 'moof', 'moov', 'sidx', 'emsg', 'prft'].includes(type)) return 'mp4';
  }
  return undefined;
}

/** Media URIs of a playlist in order, with the EXT-X-MAP init first (first one only). Minimal, line based. */
export function playlistMedia(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#EXT-X-MAP:')) {
      const m = /URI="([^"]+)"/.exec(line);
      if (m && !out.includes(m[1]!)) out.push(m[1]!);
    } else if (!line.startsWith('#')) out.push(line);
  }
  return out;
}

const MEDIA_EXT = /\.(ts|m4s|mp4|cmfv|cmfa|m4v|m4a)$/i;

export class WatchFolderIngest {
  private watcher: FSWatcher | undefined;
  private seen = new Set<string>();
  private session: StreamSession | undefined;
  private format: MediaFormat | undefined;
  private chain: Promise<void> = Promise.resolve();
  private hasPlaylist = false;
  readonly dir: string;
  /** Files fed, in order (tests and logs). */
  readonly ingested: string[] = [];

  constructor(
    readonly stream: string,
    dir: string,
    private readonly newSession: (o: SessionOptions) => StreamSession,
    private readonly log: Logger,
  ) {
    this.dir = resolve(dir);
  }

  async start(): Promise<void> {
    this.watcher = watch(this.dir, {
      depth: 0,
      ignoreInitial: false,
      awaitWriteFinish: { stabilityThreshold: 400, pollInterval: 100 },
    });
    this.watcher.on('add', (p) => this.onFile(p));
    this.watcher.on('change', (p) => this.onFile(p));
    this.watcher.on('error', (err) => this.log.error({ err }, 'watch folder error'));
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
    this.log.info({ dir: this.dir }, 'watching folder');
  }

  async stop(): Promise<void> {
    await this.watcher?.close();
    await this.chain;
    await this.session?.stop('watch folder stopped');
  }

  private onFile(path: string): void {
    const name = basename(path);
    this.chain = this.chain
      .then(() => this.handle(name))
      .catch((err: unknown) => this.log.error({ err, file: name }, 'watch folder file failed'));
  }

  private async handle(name: string): Promise<void> {
    if (name.endsWith('.m3u8')) {
      this.hasPlaylist = true;
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => '');
      for (const uri of playlistMedia(text)) {
        if (uri.includes('/') || uri.includes('\\')) continue; // only files in this folder
        await this.ingest(uri);
      }
      return;
    }
    if (name.endsWith('.tmp') || name.startsWith('.')) return;
    if (!MEDIA_EXT.test(name)) {
      if (!this.seen.has(name)) {
        this.seen.add(name);
        this.log.warn({ file: name }, 'not a media file; skipped');
      }
      return;
    }
    if (this.hasPlaylist) return; // the playlist says when a segment is complete
    await this.ingest(name);
  }

  private async ingest(name: string): Promise<void> {
    if (this.seen.has(name)) return;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, name));
    } catch {
      return; // listed but not there (yet): the next playlist update retries
    }
    this.seen.add(name);
    const format = sniffMedia(bytes);
    if (!format) {
      this.log.warn({ file: name, bytes: bytes.length }, 'not a media file; skipped');
      return;
    }
    if (this.format && format !== this.format) {
      this.log.warn(
        { file: name, format, expected: this.format },
        'media format changed inside the folder; skipped',
      );
      return;
    }
    if (!this.session) {
      this.format = format;
      this.session = this.newSession({
        input: { kind: format === 'mpegts' ? 'mpegts-stdin' : 'mp4-stdin' },
        audio: true,
      });
      await this.session.start();
      this.log.info({ format }, 'watch folder stream started');
    }
    this.ingested.push(name);
    if (!this.session.write(bytes)) await new Promise<void>((r) => this.session!.onceDrain(r));
  }
}
