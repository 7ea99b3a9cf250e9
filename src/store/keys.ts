/**
 * Every Redis key Wellspring uses, built here and nowhere else. All keys of one stream share the hash tag
 * {stream} so multi-key Lua scripts work on Redis Cluster. Stream and rendition names are validated
 * (SAFE_NAME) before they get here; object file names are checked against OBJECT_FILE.
 */
import { SAFE_NAME } from '../config.js';

/** Object names inside a rendition folder: init-<id>.mp4, seg-<msn>.m4s, part-<msn>.<index>.m4s. */
export const OBJECT_FILE = /^(?:init-\d{1,9}\.mp4|seg-\d{1,15}\.m4s|part-\d{1,15}\.\d{1,4}\.m4s)$/;

export function assertSafeName(kind: string, name: string): void {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe ${kind} name ${JSON.stringify(name)}`);
}

export class StreamKeys {
  readonly tag: string;
  constructor(
    readonly prefix: string,
    readonly stream: string,
  ) {
    assertSafeName('stream', stream);
    this.tag = `${prefix}:{${stream}}`;
  }
  /** Hash: settings, rendition descriptions (r:<name>), state, version. */
  get meta(): string {
    return `${this.tag}:meta`;
  }
  /** Hash of counters that only increase: <rendition>:nextMsn, :disc, :initId. Never expires. */
  get seq(): string {
    return `${this.tag}:seq`;
  }
  /** List of complete segment entries (JSON, without parts), oldest first. */
  segments(rendition: string): string {
    return `${this.tag}:segs:${rendition}`;
  }
  /** Hash msn -> JSON array of that segment's parts, for the recent segments. */
  parts(rendition: string): string {
    return `${this.tag}:parts:${rendition}`;
  }
  /** The open segment entry (JSON with its parts so far). */
  open(rendition: string): string {
    return `${this.tag}:open:${rendition}`;
  }
  /** A media object's bytes. */
  object(rendition: string, file: string): string {
    assertSafeName('rendition', rendition);
    if (!OBJECT_FILE.test(file)) throw new Error(`unsafe object name ${JSON.stringify(file)}`);
    return `${this.tag}:obj:${rendition}:${file}`;
  }
  /** A rendered manifest: hash { v: version, body, type }. */
  manifest(name: string): string {
    return `${this.tag}:manifest:${name}`;
  }
}

/** Global (per-deployment) keys. */
export class DeploymentKeys {
  constructor(readonly prefix: string) {}
  /** Sorted set of streams by last update (ms). */
  get streams(): string {
    return `${this.prefix}:streams`;
  }
  /** Pub/sub channel: manifest and part events. */
  get events(): string {
    return `${this.prefix}:events`;
  }
  /** BullMQ queue name for manifest jobs. */
  get manifestQueue(): string {
    return `${this.prefix}-manifests`;
  }
  /** Live publishers: a lock per stream (value = ingest instance id). */
  publisherLock(stream: string): string {
    return `${this.prefix}:{${stream}}:publisher`;
  }
}
