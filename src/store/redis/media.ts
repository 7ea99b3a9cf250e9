/**
 * MediaStore on Redis: media objects and the timeline. Writes go through Lua scripts so bytes are stored before
 * any entry names them; reads rebuild the TimelineSnapshot the renderers take.
 */
import type { PartEntry, SegmentEntry, TimelineResume } from '../../core/index.js';
import { objectName } from '../../core/index.js';
import type { LoadedTimelines, MediaStore, RenditionInfo, SegmentWrite, StreamState } from '../ports.js';
import { assembleSnapshot } from '../snapshot.js';
import type { Client } from './connection.js';
import { DeploymentKeys } from './keys.js';
import { build, run } from './scripts.js';

export class RedisMediaStore implements MediaStore {
  private readonly keys: DeploymentKeys;
  constructor(
    private readonly redis: Client,
    prefix: string,
  ) {
    this.keys = new DeploymentKeys(prefix);
  }

  async readResume(stream: string, rendition: string): Promise<TimelineResume> {
    const [nextMsn, disc, initId] = await this.redis.hmget(
      this.keys.stream(stream).seq,
      `${rendition}:nextMsn`,
      `${rendition}:disc`,
      `${rendition}:initId`,
    );
    return {
      nextMsn: Number(nextMsn ?? 0),
      lastDiscontinuitySeq: Number(disc ?? 0),
      // The Timeline increments the init id at a discontinuity; resumed streams continue past the stored one.
      initId: Number(initId ?? 0),
      resumed: nextMsn !== null || initId !== null,
    };
  }

  async publishInit(
    stream: string,
    info: RenditionInfo,
    initId: number,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<number> {
    const call = build.publishInit(this.keys.stream(stream), {
      rendition: info.name,
      initFile: objectName.init(initId),
      bytes: toBuffer(bytes),
      ttlSec,
      initId,
      description: JSON.stringify(info),
    });
    return Number(await run(this.redis, 'publishInit', call));
  }

  async publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ): Promise<number> {
    const call = build.publishPart(this.keys.stream(stream), {
      rendition,
      partFile: objectName.part(part.msn, part.index),
      bytes: toBuffer(bytes),
      ttlSec: ttl.partSec,
      open: JSON.stringify(open),
      openTtlSec: ttl.openSec,
      durationTicks: part.durationTicks,
    });
    return Number(await run(this.redis, 'publishPart', call));
  }

  async publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: SegmentWrite,
  ): Promise<number> {
    const { parts, ...entry } = segment;
    const call = build.publishSegment(this.keys.stream(stream), {
      rendition,
      segmentFile: objectName.segment(segment.msn),
      initFile: objectName.init(segment.initId),
      bytes: toBuffer(bytes),
      ttlSec: o.segmentSec,
      entry: JSON.stringify(entry),
      parts: JSON.stringify(parts),
      keepSegments: o.keepSegments,
      keepPartsSegments: o.keepPartsSegments,
      initTtlSec: o.initSec,
    });
    return Number(await run(this.redis, 'publishSegment', call));
  }

  async loadTimelines(
    stream: string,
    state: StreamState,
    maxSegments: number,
    partSegments: number,
  ): Promise<LoadedTimelines> {
    const k = this.keys.stream(stream);
    // One MULTI on the stream's slot: the version and every rendition's entries as of one moment.
    const multi = this.redis.multi().hget(k.meta, 'version');
    for (const r of state.renditions) multi.lrange(k.segments(r.name), -maxSegments, -1).get(k.open(r.name));
    const res = (await multi.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    const version = Number(res[0]?.[1] ?? 0);
    const snaps: LoadedTimelines['snaps'] = new Map();
    for (let i = 0; i < state.renditions.length; i++) {
      const info = state.renditions[i]!;
      const rawSegs = res[1 + 2 * i]![1] as string[];
      const rawOpen = res[2 + 2 * i]![1] as string | null;
      snaps.set(
        info.name,
        await assembleSnapshot({
          info,
          segments: rawSegs.map((s) => JSON.parse(s) as Omit<SegmentEntry, 'parts'>),
          open: rawOpen ? (JSON.parse(rawOpen) as SegmentEntry) : undefined,
          partSegments,
          ended: state.state === 'ended',
          maxPartTicks: state.maxPartTicks[info.name] ?? 0,
          // Parts of a complete segment never change once written; reading them after the MULTI is safe.
          readParts: async (msns) =>
            (await this.redis.hmget(k.parts(info.name), ...msns.map(String))).map((p) =>
              p ? (JSON.parse(p) as PartEntry[]) : undefined,
            ),
        }),
      );
    }
    return { version, snaps };
  }

  async getObject(stream: string, rendition: string, file: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.stream(stream).object(rendition, file));
  }

  /** Issue #11: a promoted cold object (bytes only, with a TTL; NX: never replaces what the ingest wrote). */
  async putObject(
    stream: string,
    rendition: string,
    file: string,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<void> {
    await this.redis.set(
      this.keys.stream(stream).object(rendition, file),
      toBuffer(bytes),
      'EX',
      ttlSec,
      'NX',
    );
  }

  async getOpenEntry(stream: string, rendition: string): Promise<SegmentEntry | undefined> {
    const raw = await this.redis.get(this.keys.stream(stream).open(rendition));
    return raw ? (JSON.parse(raw) as SegmentEntry) : undefined;
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
