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

/**
 * Issue #11: asset jobs (live-to-VOD harvests, VOD packaging), one per asset: the job id is derived from the asset
 * name, so a second request for the same asset finds the first job. Jobs report progress, retry after a crash or a
 * transient failure, and survive a worker restart (BullMQ: a dead worker's job is taken over).
 */
export type AssetJobSpec =
  | { kind: 'harvest'; asset: string; stream: string; startMs: number; endMs: number }
  | {
      kind: 'package';
      asset: string;
      /** Cold-tier key of the uploaded source file (deleted once packaged). */
      sourceKey: string;
      /** The upload's file name, for the asset's description. */
      sourceName: string;
      /** Stream whose ladder to use (default: the config's defaults). */
      stream?: string;
      mode: 'ladder' | 'passthrough' | 'auto';
    };

export interface AssetJobProgress {
  /** 0..100. */
  percent: number;
  /** What the job is doing: queued, copying, encoding, publishing, done. */
  stage: string;
  speed?: number;
  etaSec?: number;
}

export type AssetJobState = 'waiting' | 'active' | 'completed' | 'failed';

export interface AssetJobView {
  id: string;
  spec: AssetJobSpec;
  state: AssetJobState;
  progress: AssetJobProgress;
  /** The handler's result (completed jobs). */
  result?: Record<string, unknown>;
  /** Why it failed (failed jobs; the last attempt's reason for a retrying one). */
  error?: string;
  attemptsMade: number;
  createdAtMs: number;
  finishedAtMs?: number;
}

export interface AssetJobContext {
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
  progress(p: AssetJobProgress): Promise<void>;
}

export type AssetJobHandler = (spec: AssetJobSpec, ctx: AssetJobContext) => Promise<Record<string, unknown>>;

/** A job that must not be retried (bad input: retrying gives the same answer). */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

/** The job id of an asset's job. */
export const assetJobId = (asset: string): string => `vod-${asset}`;

export interface AssetJobQueue {
  /** Adds the asset's job; an existing waiting, active or completed job of the asset is returned instead. */
  submit(spec: AssetJobSpec): Promise<{ view: AssetJobView; created: boolean }>;
  get(id: string): Promise<AssetJobView | undefined>;
  close(): Promise<void>;
}

export interface AssetJobWorker {
  /** Stops taking jobs; waits for the running ones unless force (then their locks lapse and others take them). */
  close(force?: boolean): Promise<void>;
}
