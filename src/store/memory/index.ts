/**
 * The in-memory adapter of every store port: a second real implementation with the same rules as Redis (bytes
 * before references, counters that only increase, idempotent segment writes, TTLs, an older manifest never
 * replacing a newer one), for fast in-process tests of the ingest, renderer and reader. One process only: it is
 * not a substitute for Redis in production or in the end-to-end tests.
 */
import type { PartEntry, SegmentEntry, TimelineResume } from '../../core/index.js';
import { assertSafeName, isObjectName, objectName, UnsafeNameError, versionFloor } from '../../core/index.js';
import type {
  EventBus,
  LoadedTimelines,
  ManifestStore,
  ManifestWrite,
  MediaEvent,
  MediaStore,
  PublisherLocks,
  RenditionInfo,
  SegmentWrite,
  Store,
  StoredManifest,
  StoredStreamSettings,
  StreamDirectory,
  StreamLifecycle,
  StreamListing,
  StreamState,
  Subscription,
} from '../ports.js';
import { StoreUnavailableError } from '../errors.js';
import { assembleSnapshot } from '../snapshot.js';
import { MemoryObjects } from './objects.js';
import { MemoryEventLog, MemoryHealthBoard, MemoryStreamControls } from './operations.js';
import { MemorySegmentArchive } from './archive.js';
import { listenIn } from './listeners.js';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

interface StreamData {
  meta: {
    version: number;
    state?: StreamLifecycle;
    settings?: StoredStreamSettings;
    renditions: Map<string, RenditionInfo>;
    maxPart: Map<string, number>;
  };
  seq: Map<string, number>;
  objects: Map<string, Expiring<Buffer>>;
  segments: Map<string, Array<Omit<SegmentEntry, 'parts'>>>;
  parts: Map<string, Map<number, PartEntry[]>>;
  open: Map<string, Expiring<SegmentEntry>>;
  manifests: Map<string, Expiring<StoredManifest>>;
  lock?: Expiring<string>;
}

export interface MemoryStoreOptions {
  /** The clock TTLs run on (tests pass their own). */
  now?: () => number;
}

export class MemoryStore implements Store {
  private readonly data = new Map<string, StreamData>();
  private readonly index = new Map<string, number>();
  private readonly now: () => number;
  /** Set to make every operation fail, as an unreachable store does (thrown as a StoreUnavailableError). */
  unreachable: Error | undefined;
  readonly media: MediaStore;
  readonly manifests: ManifestStore;
  readonly streams: StreamDirectory;
  readonly locks: PublisherLocks;
  readonly events: MemoryEventBus;
  readonly objects: MemoryObjects;
  readonly eventLog: MemoryEventLog;
  readonly controls: MemoryStreamControls;
  readonly healthBoard: MemoryHealthBoard;
  readonly archive: MemorySegmentArchive;
  readonly hotAssets: MemoryObjects;
  readonly health = { ping: async (): Promise<void> => this.check() };

  constructor(o: MemoryStoreOptions = {}) {
    this.now = o.now ?? Date.now;
    this.media = new MemoryMedia(this);
    this.manifests = new MemoryManifests(this);
    this.streams = new MemoryDirectory(this);
    this.locks = new MemoryLocks(this);
    this.events = new MemoryEventBus(() => this.check());
    this.objects = new MemoryObjects(this.now, () => this.check());
    this.eventLog = new MemoryEventLog(10_000, this.now, () => this.check());
    this.controls = new MemoryStreamControls(() => this.check());
    this.healthBoard = new MemoryHealthBoard(this.now, () => this.check());
    this.archive = new MemorySegmentArchive(() => this.check());
    this.hotAssets = new MemoryObjects(this.now, () => this.check());
  }

  /** @internal */
  check(): void {
    const u = this.unreachable;
    if (!u) return;
    throw u instanceof StoreUnavailableError ? u : new StoreUnavailableError(u.message, { cause: u });
  }

  /** @internal */
  clock(): number {
    return this.now();
  }

  /** @internal the stream's data, created on first write */
  stream(name: string, create = true): StreamData | undefined {
    assertSafeName('stream', name);
    this.check();
    let d = this.data.get(name);
    if (!d && create) {
      d = {
        meta: { version: 0, renditions: new Map(), maxPart: new Map() },
        seq: new Map(),
        objects: new Map(),
        segments: new Map(),
        parts: new Map(),
        open: new Map(),
        manifests: new Map(),
      };
      this.data.set(name, d);
    }
    return d;
  }

  /** @internal */
  live<T>(e: Expiring<T> | undefined): T | undefined {
    return e && e.expiresAt > this.now() ? e.value : undefined;
  }

  /** @internal */
  expiring<T>(value: T, ttlSec: number): Expiring<T> {
    return { value, expiresAt: this.now() + ttlSec * 1000 };
  }

  /** @internal */
  touchIndex(stream: string, nowMs: number): void {
    this.index.set(stream, nowMs);
  }

  /** @internal */
  indexEntries(): Array<[string, number]> {
    return [...this.index.entries()];
  }

  /** Forgets everything, as a Redis restarted without persistence does (tests of recovery). */
  wipe(): void {
    this.data.clear();
    this.index.clear();
  }

  async close(): Promise<void> {
    await this.events.close();
  }
}

function objectKey(rendition: string, file: string): string {
  assertSafeName('rendition', rendition);
  if (!isObjectName(file)) throw new UnsafeNameError('object', file);
  return `${rendition}/${file}`;
}

function raise(map: Map<string, number>, field: string, value: number): void {
  if (value > (map.get(field) ?? -1)) map.set(field, value);
}

const copy = (b: Uint8Array): Buffer => Buffer.from(b);

class MemoryMedia implements MediaStore {
  constructor(private readonly s: MemoryStore) {}

  async readResume(stream: string, rendition: string): Promise<TimelineResume> {
    const d = this.s.stream(stream, false);
    const nextMsn = d?.seq.get(`${rendition}:nextMsn`);
    const disc = d?.seq.get(`${rendition}:disc`);
    const initId = d?.seq.get(`${rendition}:initId`);
    return {
      nextMsn: nextMsn ?? 0,
      lastDiscontinuitySeq: disc ?? 0,
      initId: initId ?? 0,
      resumed: nextMsn !== undefined || initId !== undefined,
    };
  }

  async publishInit(
    stream: string,
    info: RenditionInfo,
    initId: number,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<number> {
    const d = this.s.stream(stream)!;
    d.objects.set(objectKey(info.name, objectName.init(initId)), this.s.expiring(copy(bytes), ttlSec));
    raise(d.seq, `${info.name}:initId`, initId);
    d.meta.renditions.set(info.name, { ...info });
    d.meta.state = 'live';
    return ++d.meta.version;
  }

  async publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ): Promise<number> {
    const d = this.s.stream(stream)!;
    d.objects.set(
      objectKey(rendition, objectName.part(part.msn, part.index)),
      this.s.expiring(copy(bytes), ttl.partSec),
    );
    d.open.set(rendition, this.s.expiring(structuredClone(open), ttl.openSec));
    raise(d.seq, `${rendition}:nextMsn`, open.msn + 1);
    raise(d.seq, `${rendition}:disc`, open.discontinuitySeq);
    raise(d.meta.maxPart, rendition, part.durationTicks);
    return ++d.meta.version;
  }

  async publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: SegmentWrite,
  ): Promise<number> {
    const d = this.s.stream(stream)!;
    const { parts, ...entry } = structuredClone(segment);
    d.objects.set(
      objectKey(rendition, objectName.segment(segment.msn)),
      this.s.expiring(copy(bytes), o.segmentSec),
    );
    const list = d.segments.get(rendition) ?? [];
    d.segments.set(rendition, list);
    const last = list[list.length - 1];
    if (!last || last.msn < segment.msn) {
      list.push(entry);
      if (list.length > o.keepSegments) list.splice(0, list.length - o.keepSegments);
    }
    const partMap = d.parts.get(rendition) ?? new Map<number, PartEntry[]>();
    d.parts.set(rendition, partMap);
    partMap.set(segment.msn, parts);
    partMap.delete(segment.msn - o.keepPartsSegments);
    if (this.s.live(d.open.get(rendition))?.msn === segment.msn) d.open.delete(rendition);
    raise(d.seq, `${rendition}:nextMsn`, segment.msn + 1);
    raise(d.seq, `${rendition}:disc`, segment.discontinuitySeq);
    const init = d.objects.get(objectKey(rendition, objectName.init(segment.initId)));
    if (init && this.s.live(init)) init.expiresAt = this.s.clock() + o.initSec * 1000;
    // As the Redis script: negated when the init, the stream's settings or this rendition's description are missing.
    const described =
      !!init && !!this.s.live(init) && d.meta.settings !== undefined && d.meta.renditions.has(rendition);
    return described ? ++d.meta.version : -++d.meta.version;
  }

  async loadTimelines(
    stream: string,
    state: StreamState,
    maxSegments: number,
    partSegments: number,
  ): Promise<LoadedTimelines> {
    const d = this.s.stream(stream, false);
    const snaps: LoadedTimelines['snaps'] = new Map();
    for (const info of state.renditions) {
      const list = d?.segments.get(info.name) ?? [];
      snaps.set(
        info.name,
        await assembleSnapshot({
          info,
          segments: structuredClone(list.slice(-maxSegments)),
          open: structuredClone(this.s.live(d?.open.get(info.name))),
          partSegments,
          ended: state.state === 'ended',
          maxPartTicks: state.maxPartTicks[info.name] ?? 0,
          readParts: async (msns) => msns.map((m) => structuredClone(d?.parts.get(info.name)?.get(m))),
        }),
      );
    }
    return { version: d?.meta.version ?? 0, snaps };
  }

  async getObject(stream: string, rendition: string, file: string): Promise<Buffer | null> {
    const d = this.s.stream(stream, false);
    return this.s.live(d?.objects.get(objectKey(rendition, file))) ?? null;
  }

  /** Issue #11: a promoted cold object (bytes only, with a TTL; never replaces a live copy). */
  async putObject(
    stream: string,
    rendition: string,
    file: string,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<void> {
    const d = this.s.stream(stream, true)!;
    const key = objectKey(rendition, file);
    if (this.s.live(d.objects.get(key))) return;
    d.objects.set(key, this.s.expiring(Buffer.from(bytes), ttlSec));
  }

  async getOpenEntry(stream: string, rendition: string): Promise<SegmentEntry | undefined> {
    return structuredClone(this.s.live(this.s.stream(stream, false)?.open.get(rendition)));
  }
}

class MemoryManifests implements ManifestStore {
  constructor(private readonly s: MemoryStore) {}

  async read(stream: string, name: string): Promise<StoredManifest | undefined> {
    const m = this.s.live(this.s.stream(stream, false)?.manifests.get(name));
    return m ? { ...m } : undefined;
  }

  async store(
    stream: string,
    manifests: ManifestWrite[],
    ttlSec: number,
  ): Promise<{ stored: number; refused: number }> {
    const d = this.s.stream(stream)!;
    let stored = 0;
    let refused = 0;
    for (const { name, ...m } of manifests) {
      const cur = this.s.live(d.manifests.get(name));
      if (cur && m.version < cur.version) refused++;
      else {
        d.manifests.set(name, this.s.expiring(m, ttlSec));
        stored++;
      }
    }
    return { stored, refused };
  }
}

class MemoryDirectory implements StreamDirectory {
  constructor(private readonly s: MemoryStore) {}

  async mark(
    stream: string,
    settings: StoredStreamSettings,
    state: StreamLifecycle,
    nowMs: number,
  ): Promise<void> {
    const d = this.s.stream(stream)!;
    const hadSettings = d.meta.settings !== undefined;
    d.meta.settings = { ...settings };
    d.meta.state = state;
    // As on Redis: a stream marked without its settings (new, or lost by the store) counts from the clock floor.
    d.meta.version = hadSettings ? d.meta.version + 1 : Math.max(d.meta.version + 1, versionFloor(nowMs));
    this.s.touchIndex(stream, nowMs);
  }

  async readState(stream: string): Promise<StreamState> {
    const d = this.s.stream(stream, false);
    const renditions = [...(d?.meta.renditions.values() ?? [])].map((r) => ({ ...r }));
    renditions.sort((a, b) => a.order - b.order);
    return {
      version: d?.meta.version ?? 0,
      state: d?.meta.state ?? 'idle',
      settings: d?.meta.settings ? { ...d.meta.settings } : undefined,
      renditions,
      maxPartTicks: Object.fromEntries(d?.meta.maxPart ?? []),
    };
  }

  async version(stream: string): Promise<number> {
    return this.s.stream(stream, false)?.meta.version ?? 0;
  }

  async list(limit: number): Promise<StreamListing[]> {
    this.s.check();
    return this.s
      .indexEntries()
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, updatedAt]) => ({
        name,
        updatedAt,
        state: this.s.stream(name, false)?.meta.state ?? 'unknown',
      }));
  }
}

class MemoryLocks implements PublisherLocks {
  constructor(private readonly s: MemoryStore) {}

  async claim(stream: string, holder: string, ttlMs: number): Promise<boolean> {
    const d = this.s.stream(stream)!;
    const cur = this.s.live(d.lock);
    if (cur !== undefined && cur !== holder) return false;
    d.lock = this.s.expiring(holder, ttlMs / 1000);
    return true;
  }

  async refresh(stream: string, holder: string, ttlMs: number): Promise<void> {
    await this.claim(stream, holder, ttlMs);
  }

  async release(stream: string, holder: string): Promise<void> {
    const d = this.s.stream(stream, false);
    if (d && this.s.live(d.lock) === holder) d.lock = undefined;
  }
}

/** Events delivered in process, asynchronously (as from Redis: never inside the publisher's call). */
export class MemoryEventBus implements EventBus {
  private readonly byStream = new Map<string, Set<(ev: MediaEvent) => void>>();
  constructor(private readonly check: () => void = () => undefined) {}

  async publish(ev: MediaEvent): Promise<void> {
    this.check();
    const set = this.byStream.get(ev.s);
    if (!set) return;
    const copy = JSON.parse(JSON.stringify(ev)) as MediaEvent;
    queueMicrotask(() => {
      for (const l of [...set]) l(copy);
    });
  }

  subscribe(stream: string, fn: (ev: MediaEvent) => void): Subscription {
    return listenIn(this.byStream, stream, fn);
  }

  get listeners(): number {
    let n = 0;
    for (const s of this.byStream.values()) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    this.byStream.clear();
  }
}
