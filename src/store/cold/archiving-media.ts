/**
 * Issue #11: the ingest's hook into the archiver, as a MediaStore decorator in the ingest role. Every init and
 * complete segment the ingest writes goes to the hot tier exactly as before (the same call, awaited by the
 * publisher as before); once the hot write succeeded, the same bytes are handed to the archiver, which is never
 * awaited. Not a second write path: the ingest code does not know the cold tier exists.
 */
import type { PartEntry, SegmentEntry } from '../../core/index.js';
import type { MediaStore, RenditionInfo, SegmentWrite, StreamState } from '../ports.js';
import type { ColdArchiver } from './archiver.js';

export class ArchivingMediaStore implements MediaStore {
  /** The init last handed over per stream/rendition: a republished init (same id, same bytes) is not copied again. */
  private readonly lastInit = new Map<string, string>();

  constructor(
    private readonly hot: MediaStore,
    private readonly archiver: ColdArchiver,
  ) {}

  readResume(stream: string, rendition: string) {
    return this.hot.readResume(stream, rendition);
  }

  async publishInit(
    stream: string,
    info: RenditionInfo,
    initId: number,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<number> {
    const v = await this.hot.publishInit(stream, info, initId, bytes, ttlSec);
    const lane = `${stream}/${info.name}`;
    const id = `${initId}:${bytes.byteLength}`;
    if (this.lastInit.get(lane) !== id) {
      this.lastInit.set(lane, id);
      this.archiver.enqueueInit(stream, info.name, initId, bytes);
    }
    return v;
  }

  publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ): Promise<number> {
    return this.hot.publishPart(stream, rendition, part, open, bytes, ttl);
  }

  async publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: SegmentWrite,
  ): Promise<number> {
    const v = await this.hot.publishSegment(stream, rendition, segment, bytes, o);
    // Negative: the store lost the init or settings and the writer publishes them and this segment again.
    if (v >= 0) this.archiver.enqueueSegment(stream, rendition, segment, bytes);
    return v;
  }

  getObject(stream: string, rendition: string, file: string) {
    return this.hot.getObject(stream, rendition, file);
  }

  putObject(
    stream: string,
    rendition: string,
    file: string,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<void> {
    if (!this.hot.putObject) return Promise.reject(new Error('the hot tier cannot store objects alone'));
    return this.hot.putObject(stream, rendition, file, bytes, ttlSec);
  }

  getOpenEntry(stream: string, rendition: string) {
    return this.hot.getOpenEntry(stream, rendition);
  }

  loadTimelines(stream: string, state: StreamState, maxSegments: number, partSegments: number) {
    return this.hot.loadTimelines(stream, state, maxSegments, partSegments);
  }
}
