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

/** Every port of one store, as the composition roots hand them out. */
export interface Store {
  media: MediaStore;
  manifests: ManifestStore;
  streams: StreamDirectory;
  locks: PublisherLocks;
  events: EventBus;
  health: StoreHealth;
  close(): Promise<void>;
}
