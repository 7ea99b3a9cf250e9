/**
 * Every Redis key Wellspring uses, built here and nowhere else. All keys of one stream share the hash tag
 * {stream}, so every multi-key command and script of a stream runs on one Redis Cluster slot. Names are checked
 * with the core's name rules before they become keys.
 */
import { assertSafeName, isObjectName, UnsafeNameError } from '../../core/index.js';

export class StreamKeys {
  readonly tag: string;
  constructor(
    readonly prefix: string,
    readonly stream: string,
  ) {
    assertSafeName('stream', stream);
    this.tag = `${prefix}:{${stream}}`;
  }
  /** Hash: settings, rendition descriptions (r:<name>), state, version, maxPart:<rendition>. */
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
    if (!isObjectName(file)) throw new UnsafeNameError('object', file);
    return `${this.tag}:obj:${rendition}:${file}`;
  }
  /** A rendered manifest: hash { v, body, msn, part, t, target }. */
  manifest(name: string): string {
    return `${this.tag}:manifest:${name}`;
  }
  /** The stream's event channel (sharded pub/sub: it lives on the stream's slot). */
  get events(): string {
    return `${this.tag}:events`;
  }
  /** The live publisher's lease (value = ingest instance id). */
  get publisher(): string {
    return `${this.tag}:publisher`;
  }
  /** Issue #11: a rendition's DVR archive (sorted set of compact segment records scored by wall clock ms). */
  archive(rendition: string): string {
    assertSafeName('rendition', rendition);
    return `${this.tag}:arch:${rendition}`;
  }
  /** Issue #11: set of the renditions with archive records. */
  get archivedRenditions(): string {
    return `${this.tag}:arch`;
  }
  /** The ingest's health report of the live publisher (JSON, expires unless refreshed). */
  get health(): string {
    return `${this.tag}:health`;
  }
}

/** Per-deployment keys. */
export class DeploymentKeys {
  constructor(readonly prefix: string) {
    assertSafeName('prefix', prefix);
  }
  /** Sorted set of streams by last update (ms): an index, written after the stream's own keys. */
  get streams(): string {
    return `${this.prefix}:streams`;
  }
  /** Stream (XADD, capped) of operations events: the /api/v1/events feed. */
  get opsEvents(): string {
    return `${this.prefix}:ops:events`;
  }
  /** Set of disabled stream names. */
  get disabled(): string {
    return `${this.prefix}:ops:disabled`;
  }
  stream(name: string): StreamKeys {
    return new StreamKeys(this.prefix, name);
  }
}
