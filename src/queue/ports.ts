/**
 * The render queue's ports: the ingest asks for a stream's manifests to be rendered; manifest workers render.
 * Requests for one stream coalesce (a burst is one render) and a request that arrives while the stream is being
 * rendered schedules exactly one more render, so the newest part always reaches a playlist.
 */

export interface RenderQueue {
  requestRender(stream: string): Promise<void>;
  close(): Promise<void>;
}

/** Renders one stream; resolves when its manifests are stored and announced. */
export type RenderHandler = (stream: string) => Promise<void>;

export interface RenderWorker {
  close(): Promise<void>;
}
