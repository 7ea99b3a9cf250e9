/**
 * Issue #11: the ingest's hook into the archiver, as a MediaStore decorator in the ingest role. Every init and
 * complete segment the ingest writes goes to the hot tier exactly as before (the same call, awaited by the
 * publisher as before); once the hot write succeeded, the same bytes are handed to the archiver, which is never
 * awaited. Not a second write path: the ingest code does not know the cold tier exists.
 */
import type { SegmentEntry } from '../../core/index.js';
import { ForwardingMediaStore } from '../forwarding-media.js';
import type { MediaStore, RenditionInfo, SegmentWrite } from '../ports.js';
import type { ColdArchiver } from './archiver.js';

export class ArchivingMediaStore extends ForwardingMediaStore {
  /** The init last handed over per stream/rendition: a republished init (same id, same bytes) is not copied again. */
  private readonly lastInit = new Map<string, string>();

  constructor(
    hot: MediaStore,
    private readonly archiver: ColdArchiver,
  ) {
    super(hot);
  }

  override async publishInit(
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

  override async publishSegment(
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
}
