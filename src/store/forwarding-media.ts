/**
 * A MediaStore that hands every call to another one: the base of the decorators around the hot tier (the
 * archiver's hook in the ingest role, the tiered read in the reader role), which override only what they change.
 */
import type { PartEntry, SegmentEntry } from '../core/index.js';
import type { MediaStore, RenditionInfo, SegmentWrite, StreamState } from './ports.js';

export class ForwardingMediaStore implements MediaStore {
  constructor(protected readonly hot: MediaStore) {}

  readResume(stream: string, rendition: string) {
    return this.hot.readResume(stream, rendition);
  }

  publishInit(stream: string, info: RenditionInfo, initId: number, bytes: Uint8Array, ttlSec: number) {
    return this.hot.publishInit(stream, info, initId, bytes, ttlSec);
  }

  publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ) {
    return this.hot.publishPart(stream, rendition, part, open, bytes, ttl);
  }

  publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: SegmentWrite,
  ) {
    return this.hot.publishSegment(stream, rendition, segment, bytes, o);
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
