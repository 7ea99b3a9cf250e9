/**
 * The store's ports: what the ingest, the manifest worker and the reader may ask of storage, named by noun.
 * Two adapters implement every port: Redis (src/store/redis/, standalone or Cluster) and memory
 * (src/store/memory/, for in-process tests). A cold tier plugs in behind the same ports. Nothing outside
 * src/store and src/queue sees a Redis client.
 */
import type {
  PartEntry,
  RenditionDescription,
  SegmentEntry,
  TimelineResume,
  TimelineSnapshot,
} from '../core/index.js';

/** What a rendition is, as stored beside its init segment and read by the manifest worker. */
export type RenditionInfo = RenditionDescription;

/** Stream-level settings stored with the stream, read by the manifest worker. */
export interface StoredStreamSettings {
  segmentSec: number;
  partSec: number;
  windowSec: number;
  dvrWindowSec: number;
  /** The part of the DVR window Redis keeps when a cold tier holds the rest (issue #11); absent: all of it. */
  hotDvrWindowSec?: number;
  /**
   * The renditions the publisher's ladder makes (names), recorded when the stream is marked live: the renderer
   * publishes the multivariant playlist and the MPDs only once each of them has media. Absent: no such wait.
   */
  renditions?: string[];
}

export type StreamLifecycle = 'live' | 'ended' | 'idle';

export interface StreamState {
  version: number;
  state: StreamLifecycle;
  settings: StoredStreamSettings | undefined;
  renditions: RenditionInfo[];
  maxPartTicks: Record<string, number>;
}

/** How long objects stay and how much of the timeline is kept, for one segment write. */
export interface SegmentWrite {
  /** Segment TTL, s. */
  segmentSec: number;
  /** Init segment TTL (refreshed by every segment that uses it), s. */
  initSec: number;
  /** Complete segments kept in the timeline. */
  keepSegments: number;
  /** Segments that keep their part lists. */
  keepPartsSegments: number;
}

/** A rendition's timelines as read back for rendering, with the stream version they correspond to. */
export interface LoadedTimelines {
  version: number;
  snaps: Map<string, TimelineSnapshot>;
}

/**
 * Media objects and timelines. Bytes before references: every write stores the bytes first and then the entry
 * that names them, atomically. Sequence counters only increase. Every write returns the stream's new version.
 */
export interface MediaStore {
  /** Where a rendition's numbering resumes (counters survive reconnects and restarts). */
  readResume(stream: string, rendition: string): Promise<TimelineResume>;
  publishInit(
    stream: string,
    info: RenditionInfo,
    initId: number,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<number>;
  publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ): Promise<number>;
  /**
   * Idempotent: the same segment written twice is listed once. Returns the new version negated when the segment's
   * init, the stream's settings or this rendition's description are missing (the store lost them): the writer publishes them again.
   */
  publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: SegmentWrite,
  ): Promise<number>;
  /** A media object's bytes (file as named by objectName), or null. */
  getObject(stream: string, rendition: string, file: string): Promise<Buffer | null>;
  /**
   * Issue #11: stores a media object's bytes alone (no timeline entry, no version change) with a TTL: a cold-tier
   * object promoted into the hot tier because it is read often. Immutable names, so it can only ever hold the
   * bytes the name was first written with.
   */
  putObject?(
    stream: string,
    rendition: string,
    file: string,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<void>;
  /** The segment being filled, with its parts so far. */
  getOpenEntry(stream: string, rendition: string): Promise<SegmentEntry | undefined>;
  /**
   * The renditions' newest `maxSegments` complete segments (parts for the newest `partSegments`) and open
   * segments, read together with the stream version they correspond to. Only the contiguous run of sequence
   * numbers ending at the newest segment is kept.
   */
  loadTimelines(
    stream: string,
    state: StreamState,
    maxSegments: number,
    partSegments: number,
  ): Promise<LoadedTimelines>;
}

/** A rendered manifest, as stored and served. */
export interface StoredManifest {
  /** The stream version it was rendered from: an older render never replaces a newer one. */
  version: number;
  body: string;
  /** Newest media sequence number and part index in it (-1 when none): blocking reloads compare them. */
  msn: number;
  part: number;
  /** EXT-X-TARGETDURATION (or the MPD's segment target) it was rendered with, s. */
  targetSec: number;
  /** Render time, Unix ms (Last-Modified). */
  renderedAt: number;
}

export interface ManifestWrite extends StoredManifest {
  /** Name as in manifestName (e.g. "360p/index.m3u8"). */
  name: string;
}

/** Versioned manifests: read, and store unless a newer one is there. */
export interface ManifestStore {
  read(stream: string, name: string): Promise<StoredManifest | undefined>;
  /** Stores each manifest unless a newer version is stored; counts what was stored and refused. */
  store(
    stream: string,
    manifests: ManifestWrite[],
    ttlSec: number,
  ): Promise<{ stored: number; refused: number }>;
}

export interface StreamListing {
  name: string;
  /** Last state change, Unix ms. */
  updatedAt: number;
  state: StreamLifecycle | 'unknown';
}

/** The directory of streams: which exist, their state and settings, and their version. */
export interface StreamDirectory {
  mark(stream: string, settings: StoredStreamSettings, state: StreamLifecycle, nowMs: number): Promise<void>;
  readState(stream: string): Promise<StreamState>;
  /** The stream's version (changes with every write): a render re-checks it. */
  version(stream: string): Promise<number>;
  /** Most recently updated first. */
  list(limit: number): Promise<StreamListing[]>;
}

/** Which ingest instance holds a stream's publisher: a lease, refreshed while the publisher stays. */
export interface PublisherLocks {
  /** Takes the lease; false if another holder has it. */
  claim(stream: string, holder: string, ttlMs: number): Promise<boolean>;
  refresh(stream: string, holder: string, ttlMs: number): Promise<void>;
  /** Releases the lease if this holder still has it. */
  release(stream: string, holder: string): Promise<void>;
}

/**
 * One typed event, per stream. The ingest announces each part and segment the moment it is readable; the
 * manifest worker announces each render with every rendition's newest position.
 */
export type MediaEvent =
  | { t: 'part'; s: string; r: string; msn: number; i: number }
  | { t: 'seg'; s: string; r: string; msn: number }
  | { t: 'manifest'; s: string; v: number; pos: Record<string, { msn: number; part: number }> };

export type ManifestEvent = Extract<MediaEvent, { t: 'manifest' }>;

export interface Subscription {
  /** Resolves once events published from now on will be delivered. */
  readonly ready: Promise<void>;
  close(): void;
}

/** The event bus: the one owner of publish and subscribe. Subscribers hear only the streams they listen to. */
export interface EventBus {
  publish(ev: MediaEvent): Promise<void>;
  subscribe(stream: string, fn: (ev: MediaEvent) => void): Subscription;
  /** Listeners currently registered (metrics, tests). */
  readonly listeners: number;
  close(): Promise<void>;
}

/** Reachability of the backing store (readiness probes). Throws when unreachable. */
export interface StoreHealth {
  ping(): Promise<void>;
}

/** A stored object of the object API (issue #10): what DescribeObject answers. */
export interface ObjectMeta {
  contentType: string;
  /** Served back exactly as given; absent when none was. */
  cacheControl?: string;
  /** Quoted hex MD5 of the bytes, as MediaStore answers it. */
  etag: string;
  /** Hex SHA-256 of the bytes (PutObject's ContentSHA256). */
  sha256: string;
  length: number;
  lastModifiedMs: number;
  /** The STREAMING upload it was completed from (readers following that upload check it). */
  uploadId?: string;
}

/** A STREAMING upload in progress: readable while it arrives, replaced by the object when complete. */
export interface ObjectUpload {
  /** Unique per upload: a later upload of the same path supersedes it. */
  id: string;
  contentType: string;
  cacheControl?: string;
  startedMs: number;
}

/** What a waiting reader hears about a path's upload. */
export type ObjectEvent =
  { t: 'chunk'; id: string; n: number } | { t: 'done'; id: string } | { t: 'abort'; id: string };

export interface ObjectItem {
  name: string;
  type: 'OBJECT' | 'FOLDER';
  /** Objects only. */
  meta?: ObjectMeta;
}

/**
 * Objects by path ("container/folder/name"): the object API's storage. A path's keys share one slot (the
 * container's hash tag). A complete object is stored with its bytes and metadata at once; a STREAMING upload is a
 * list of chunks a reader can follow (watch) until it completes (then replaced by the object, atomically) or is
 * aborted (nothing left visible). Every object has a TTL (lifecycle rules).
 */
export interface ObjectStore {
  put(path: string, bytes: Uint8Array, meta: ObjectMeta, ttlSec: number): Promise<void>;
  /** Starts a STREAMING upload (superseding any other upload of the path); its chunks live at most ttlSec. */
  begin(path: string, upload: ObjectUpload, ttlSec: number): Promise<void>;
  /** Appends a chunk; the chunk count, or undefined when the upload was superseded or expired. */
  append(path: string, id: string, chunk: Uint8Array): Promise<number | undefined>;
  /** Turns the upload's chunks into the object; false when the upload was superseded or expired. */
  complete(path: string, id: string, meta: ObjectMeta, ttlSec: number): Promise<boolean>;
  /** Drops the upload and its chunks (nothing of it stays visible). */
  abort(path: string, id: string): Promise<void>;
  describe(path: string): Promise<ObjectMeta | undefined>;
  /** The object's bytes (a range: inclusive end), with its metadata. */
  read(
    path: string,
    range?: { start: number; end: number },
  ): Promise<{ meta: ObjectMeta; bytes: Buffer } | undefined>;
  /** The path's STREAMING upload in progress, if any. */
  upload(path: string): Promise<ObjectUpload | undefined>;
  /** The upload's chunks from index `from`; undefined when that upload is gone (completed, aborted, superseded). */
  chunks(path: string, id: string, from: number): Promise<Buffer[] | undefined>;
  /** Deletes the object; false when there was none. */
  delete(path: string): Promise<boolean>;
  /** A folder's items ("container" or "container/a/b"), by name, `max` at most, after the name `after`. */
  list(folder: string, max: number, after?: string): Promise<{ items: ObjectItem[]; more: boolean }>;
  /** Hears a path's upload events (chunk, done, abort). */
  watch(path: string, fn: (ev: ObjectEvent) => void): Subscription;
}

/** What the operations feed reports (issue #12): who published, what the transcoder did, what operators did. */
export type OpsEventType =
  | 'publisher.connected'
  | 'publisher.refused'
  | 'publisher.left'
  | 'publisher.kicked'
  | 'transcoder.restarted'
  | 'discontinuity'
  | 'stream.live'
  | 'stream.ended'
  | 'stream.disabled'
  | 'stream.enabled';

/** One operations event as appended. `data` is small and flat (never a secret: no keys, no tokens). */
export interface OpsEvent {
  type: OpsEventType;
  stream?: string;
  /** Unix ms. */
  at: number;
  data?: Record<string, string | number | boolean | null>;
}

/** An event as stored, with its id in the log (ids only increase; Redis stream ids "ms-seq"). */
export interface LoggedEvent extends OpsEvent {
  id: string;
}

/**
 * The deployment's operations events, a bounded history (the newest `historySize`, roughly): the feed behind
 * `/api/v1/events` (resumed by id) and the webhooks, and how an operator's kick reaches the ingest holding the
 * publisher, whatever process that is.
 */
export interface EventLog {
  /** Appends; resolves with the event's id. */
  append(ev: OpsEvent): Promise<string>;
  /** Events strictly after `id` (oldest first), `count` at most; without an id, the newest `count`. */
  after(id: string | undefined, count: number): Promise<LoggedEvent[]>;
  /**
   * Hears every event appended from now on, in order; `ready` resolves once events appended from then on will be
   * heard (a resume reads the history with `after` once ready, then drops what it hears twice).
   */
  follow(fn: (ev: LoggedEvent) => void): Subscription;
}

/** Operator switches of the deployment's streams: a disabled stream refuses publishers and viewers. */
export interface StreamControls {
  setDisabled(stream: string, disabled: boolean): Promise<void>;
  isDisabled(stream: string): Promise<boolean>;
  /** Every disabled stream. */
  disabled(): Promise<string[]>;
}

/** What the ingest holding a stream's publisher reports every few seconds (a record that expires with it). */
export interface StreamHealthRecord {
  stream: string;
  /** rtmp, srt, watch, cmaf. */
  protocol: string;
  /** host:port of the publisher, when the source knows it. */
  publisherAddress: string | null;
  /** Ingest instance holding the publisher. */
  ingest: string;
  /** Source bytes into the transcoder over the last report interval, bits/s (null: the source does not tell). */
  ingestBitrateBps: number | null;
  /** Source video frames per second over the last report interval (null: the source does not tell). */
  ingestFps: number | null;
  /** ffmpeg's speed (1 = real time), and the frames it dropped, from its -progress output. */
  transcoderSpeed: number | null;
  droppedFrames: number | null;
  transcoderRestarts: number;
  renditions: string[];
  /** Unix ms of the newest segment published, null before the first. */
  lastSegmentAt: number | null;
  /** Unix ms the publisher connected, and of this report. */
  connectedAt: number;
  reportedAt: number;
}

/** The live health reports, one per stream with a publisher. */
export interface HealthBoard {
  report(h: StreamHealthRecord, ttlMs: number): Promise<void>;
  /** The unexpired reports of these streams. */
  read(streams: string[]): Promise<Map<string, StreamHealthRecord>>;
}

/** Issue #11: what the cold tier keeps about one object. */
export interface ColdObjectMeta {
  contentType: string;
  /** Strong ETag, quoted, as served (the hot tier's ETag for the same bytes: a hash of the bytes). */
  etag: string;
  byteLength: number;
  lastModifiedMs: number;
}

/**
 * Issue #11: the cold tier (a directory on disk, S3-compatible object storage, or memory in tests). Durable,
 * slower than the hot tier, holds immutable objects by key (the key layout is pure: src/core/names). Every call
 * throws ColdTierUnavailableError (src/store/errors.ts) when the tier cannot be reached, so callers can queue
 * and retry; a missing object is null, never an error. Implementations: src/store/cold/<kind>/.
 */
export interface ColdTier {
  /** The kind, for logs and metrics (disk, s3, memory). */
  readonly kind: string;
  /** Stores the bytes under key, replacing nothing else (same key, same bytes: idempotent). */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<ColdObjectMeta>;
  /** The object's bytes (a byte range when given, inclusive end, as HTTP Range) with its meta, or null. */
  get(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ bytes: Buffer; meta: ColdObjectMeta } | null>;
  head(key: string): Promise<ColdObjectMeta | null>;
  /** Keys under a prefix in key order, after `after`, at most `max`. */
  list(prefix: string, max: number, after?: string): Promise<{ keys: string[]; more: boolean }>;
  /** Deletes in bulk; missing keys are not an error. Returns how many existed. */
  deleteMany(keys: string[]): Promise<number>;
  close(): Promise<void>;
}

/**
 * Issue #11: the records of every complete segment a stream kept in its DVR window, per rendition (the live
 * timeline keeps only the newest few). A record is written only once the segment's bytes are in the cold tier
 * (bytes before references). Keys are per stream (`{stream}` hash tag) like the rest of the stream.
 */
export interface SegmentArchive {
  /** Records a complete segment (parts dropped). Idempotent by msn. */
  record(stream: string, rendition: string, segment: Omit<SegmentEntry, 'parts'>): Promise<void>;
  /**
   * Records whose first sample's wall clock is in [fromMs, toMs), ascending by msn, at most max (the newest
   * `max` when `newest` is set: a DVR window's tail).
   */
  range(
    stream: string,
    rendition: string,
    fromMs: number,
    toMs: number,
    max: number,
    newest?: boolean,
  ): Promise<Array<Omit<SegmentEntry, 'parts'>>>;
  /** The renditions with records. */
  renditions(stream: string): Promise<string[]>;
  /** Drops records whose segment started before beforeMs; returns how many. */
  trim(stream: string, rendition: string, beforeMs: number): Promise<number>;
}

/** Every port of one store, as the composition roots hand them out. */
export interface Store {
  media: MediaStore;
  manifests: ManifestStore;
  streams: StreamDirectory;
  locks: PublisherLocks;
  events: EventBus;
  health: StoreHealth;
  /** Objects of the object API (issue #10). */
  objects: ObjectStore;
  /** Operations events (issue #12). */
  eventLog: EventLog;
  controls: StreamControls;
  healthBoard: HealthBoard;
  /** Records of the DVR window's segments (issue #11). */
  archive: SegmentArchive;
  /**
   * VOD asset objects promoted from the cold tier because they are read often (issue #11), by "asset/path": the
   * object API's shape in a namespace of its own (never listed by the object API), each with a TTL.
   */
  hotAssets: ObjectStore;
  close(): Promise<void>;
}
