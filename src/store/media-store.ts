/**
 * The hot tier: media objects and the timeline in Redis. Writes go through Lua scripts so bytes are stored
 * before any entry names them; reads rebuild the TimelineSnapshot the renderers take.
 */
import type { PartEntry, SegmentEntry, TimelineResume, TimelineSnapshot } from '../core/index.js';
import { defaultMediaUris } from '../core/index.js';
import { DeploymentKeys, StreamKeys } from './keys.js';
import type { WellspringRedis } from './redis.js';

/** What a rendition is, as stored beside its init segment and read by the manifest worker. */
export interface RenditionInfo {
  name: string;
  kind: 'video' | 'audio';
  codec: string;
  timescale: number;
  width?: number;
  height?: number;
  frameRate?: number;
  sampleRate?: number;
  channelCount?: number;
  /** Declared bitrate, bits/s, used until segments have been measured. */
  nominalBitrate: number;
  segmentTargetTicks: number;
  partTargetTicks: number;
  /** Position in the ladder (0 = top), for stable ordering. */
  order: number;
}

/** Stream-level settings stored in meta, read by the manifest worker and the reader. */
export interface StoredStreamSettings {
  segmentSec: number;
  partSec: number;
  windowSec: number;
  dvrWindowSec: number;
}

export interface StreamState {
  version: number;
  state: 'live' | 'ended' | 'idle';
  settings: StoredStreamSettings | undefined;
  renditions: RenditionInfo[];
  maxPartTicks: Record<string, number>;
}

export class MediaStore {
  readonly deployment: DeploymentKeys;
  constructor(
    readonly redis: WellspringRedis,
    readonly prefix: string,
  ) {
    this.deployment = new DeploymentKeys(prefix);
  }

  keys(stream: string): StreamKeys {
    return new StreamKeys(this.prefix, stream);
  }

  /** Where a rendition's numbering resumes. */
  async readResume(stream: string, rendition: string): Promise<TimelineResume> {
    const k = this.keys(stream);
    const [nextMsn, disc, initId] = await this.redis.hmget(
      k.seq,
      `${rendition}:nextMsn`,
      `${rendition}:disc`,
      `${rendition}:initId`,
    );
    const resumed = nextMsn !== null || initId !== null;
    return {
      nextMsn: Number(nextMsn ?? 0),
      lastDiscontinuitySeq: Number(disc ?? 0),
      // The Timeline increments the init id at a discontinuity; resumed streams continue past the stored one.
      initId: Number(initId ?? 0),
      resumed,
    };
  }

  async markStream(
    stream: string,
    settings: StoredStreamSettings,
    state: StreamState['state'],
    nowMs: number,
  ): Promise<void> {
    const k = this.keys(stream);
    await this.redis
      .multi()
      .hset(k.meta, 'settings', JSON.stringify(settings), 'state', state)
      .hincrby(k.meta, 'version', 1)
      .zadd(this.deployment.streams, nowMs, stream)
      .exec();
  }

  async publishInit(
    stream: string,
    info: RenditionInfo,
    initId: number,
    bytes: Uint8Array,
    ttlSec: number,
  ): Promise<number> {
    const k = this.keys(stream);
    return this.redis.publishInit(
      k.object(info.name, defaultMediaUris.init(initId)),
      k.seq,
      k.meta,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      ttlSec,
      info.name,
      initId,
      JSON.stringify(info),
    );
  }

  async publishPart(
    stream: string,
    rendition: string,
    part: PartEntry,
    open: SegmentEntry,
    bytes: Uint8Array,
    ttl: { partSec: number; openSec: number },
  ): Promise<number> {
    const k = this.keys(stream);
    return this.redis.publishPart(
      k.object(rendition, defaultMediaUris.part(part.msn, part.index)),
      k.open(rendition),
      k.seq,
      k.meta,
      toBuffer(bytes),
      ttl.partSec,
      JSON.stringify(open),
      ttl.openSec,
      rendition,
      part.msn,
      open.discontinuitySeq,
      part.durationTicks,
    );
  }

  async publishSegment(
    stream: string,
    rendition: string,
    segment: SegmentEntry,
    bytes: Uint8Array,
    o: { segmentSec: number; initSec: number; keepSegments: number; keepPartsSegments: number },
  ): Promise<number> {
    const k = this.keys(stream);
    const { parts, ...entry } = segment;
    return this.redis.publishSegment(
      k.object(rendition, defaultMediaUris.segment(segment.msn)),
      k.segments(rendition),
      k.parts(rendition),
      k.open(rendition),
      k.seq,
      k.meta,
      k.object(rendition, defaultMediaUris.init(segment.initId)),
      toBuffer(bytes),
      o.segmentSec,
      JSON.stringify(entry),
      JSON.stringify(parts),
      rendition,
      segment.msn,
      segment.discontinuitySeq,
      o.keepSegments,
      o.keepPartsSegments,
      o.initSec,
    );
  }

  /** The stream's description; renditions in ladder order. */
  async readState(stream: string): Promise<StreamState> {
    const h = await this.redis.hgetall(this.keys(stream).meta);
    const renditions: RenditionInfo[] = [];
    const maxPartTicks: Record<string, number> = {};
    for (const [f, v] of Object.entries(h)) {
      if (f.startsWith('r:')) renditions.push(JSON.parse(v) as RenditionInfo);
      else if (f.startsWith('maxPart:')) maxPartTicks[f.slice(8)] = Number(v);
    }
    renditions.sort((a, b) => a.order - b.order);
    return {
      version: Number(h.version ?? 0),
      state: (h.state as StreamState['state']) ?? 'idle',
      settings: h.settings ? (JSON.parse(h.settings) as StoredStreamSettings) : undefined,
      renditions,
      maxPartTicks,
    };
  }

  /**
   * Rebuilds the renditions' snapshots: the newest `maxSegments` complete segments, the parts of the recent ones
   * and the open segment, read in one MULTI together with the stream version they correspond to. Only the
   * contiguous run of sequence numbers ending at the newest segment is kept: a gap (media dropped while Redis
   * was unreachable) restarts the playlist after it.
   */
  async loadTimelines(
    stream: string,
    state: StreamState,
    maxSegments: number,
    partSegments: number,
  ): Promise<{ version: number; snaps: Map<string, TimelineSnapshot> }> {
    const k = this.keys(stream);
    const multi = this.redis.multi().hget(k.meta, 'version');
    for (const r of state.renditions) multi.lrange(k.segments(r.name), -maxSegments, -1).get(k.open(r.name));
    const res = (await multi.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    const version = Number(res[0]?.[1] ?? 0);
    const ended = state.state === 'ended';
    const snaps = new Map<string, TimelineSnapshot>();
    for (let i = 0; i < state.renditions.length; i++) {
      const info = state.renditions[i]!;
      const rawSegs = res[1 + 2 * i]![1] as string[];
      const rawOpen = res[2 + 2 * i]![1] as string | null;
      snaps.set(
        info.name,
        await this.assemble(
          stream,
          info,
          rawSegs,
          rawOpen,
          partSegments,
          ended,
          state.maxPartTicks[info.name] ?? 0,
        ),
      );
    }
    return { version, snaps };
  }

  private async assemble(
    stream: string,
    info: RenditionInfo,
    rawSegs: string[],
    rawOpen: string | null,
    partSegments: number,
    ended: boolean,
    maxPartTicks: number,
  ): Promise<TimelineSnapshot> {
    let segments = rawSegs.map((s) => ({
      ...(JSON.parse(s) as Omit<SegmentEntry, 'parts'>),
      parts: [] as PartEntry[],
    }));
    let open = rawOpen ? (JSON.parse(rawOpen) as SegmentEntry) : undefined;
    for (let i = segments.length - 1; i > 0; i--) {
      if (segments[i]!.msn !== segments[i - 1]!.msn + 1) {
        segments = segments.slice(i);
        break;
      }
    }
    const last = segments[segments.length - 1];
    if (open && last && open.msn !== last.msn + 1) {
      // The open entry is stale (from before a gap or restart), unless it is newer than everything listed.
      if (open.msn <= last.msn) open = undefined;
      else segments = [];
    }
    const recent = partSegments > 0 ? segments.slice(-partSegments) : [];
    if (recent.length > 0) {
      // Parts of a complete segment never change once written; reading them after the MULTI is safe.
      const parts = await this.redis.hmget(
        this.keys(stream).parts(info.name),
        ...recent.map((s) => String(s.msn)),
      );
      recent.forEach((s, i) => {
        const p = parts[i];
        if (p) s.parts = JSON.parse(p) as PartEntry[];
      });
    }
    return {
      timescale: info.timescale,
      segmentTargetTicks: info.segmentTargetTicks,
      partTargetTicks: Math.max(info.partTargetTicks, maxPartTicks),
      segments,
      open: ended ? undefined : open,
      ended,
    };
  }

  async getObject(stream: string, rendition: string, file: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys(stream).object(rendition, file));
  }

  async getOpenEntry(stream: string, rendition: string): Promise<SegmentEntry | undefined> {
    const raw = await this.redis.get(this.keys(stream).open(rendition));
    return raw ? (JSON.parse(raw) as SegmentEntry) : undefined;
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
