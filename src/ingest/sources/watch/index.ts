/** Watch-folder source: a folder per watch stream, each fed file by file to its stream's transcoder. */
import type { StreamConfig } from '../../../config.js';
import type { IngestSource, SourceContext, SourceEndpoint, SourceKind } from '../../source.js';
import { WatchFolderIngest } from './watch-folder.js';

export { playlistMedia, sniffMedia, WatchFolderIngest } from './watch-folder.js';

export class WatchSource implements IngestSource {
  readonly kind = 'watch';
  /** One per stream, in config order. */
  readonly folders: WatchFolderIngest[] = [];

  constructor(
    private readonly streams: StreamConfig[],
    private readonly ctx: SourceContext,
  ) {}

  async start(): Promise<void> {
    for (const s of this.streams) {
      if (s.ingest.type !== 'watch') continue;
      const audioTracks = s.ingest.audioTracks;
      const w = new WatchFolderIngest(
        s.name,
        s.ingest.dir,
        (opts) => this.ctx.newSession(s.name, s, { ...opts, audioTracks }),
        this.ctx.log.child({ component: 'watch', stream: s.name }),
      );
      await w.start();
      this.folders.push(w);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.folders.map((w) => w.stop()));
  }

  endpoints(): SourceEndpoint[] {
    return this.folders.map((w) => ({ kind: 'watch', stream: w.stream, dir: w.dir }));
  }
}

export const watchSource: SourceKind<'watch'> = {
  name: 'watch',
  create: (streams, ctx) => (streams.length > 0 ? new WatchSource(streams, ctx) : undefined),
};
