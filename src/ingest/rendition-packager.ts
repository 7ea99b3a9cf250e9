/**
 * One rendition of a live stream: CMAF bytes from ffmpeg's pipe -> CmafStreamReader -> Timeline -> publish
 * operations (bytes and timeline entries) in order.
 */
import {
  CmafStreamReader,
  type InitInfo,
  type ObjectTtls,
  PART_SEGMENTS,
  Timeline,
  type TimelineEvent,
  type TimelineResume,
  concat,
  hotDvrSec,
} from '../core/index.js';
import type { Logger } from '../log.js';
import type { MediaStore, RenditionInfo } from '../store/ports.js';
import type { PublishOp, Publisher } from './publisher.js';

export interface RenditionSpec {
  name: string;
  kind: 'video' | 'audio';
  order: number;
  nominalBitrate: number;
  /** Keyframes sit exactly on segment boundaries (our own encoder): close segments eagerly. */
  alignedKeyframes: boolean;
  frameRate?: number;
  /** From the source (StreamSession.onSourceInfo): audio language; video captions and their language. */
  language?: string;
  closedCaptions?: boolean;
}

export interface PackagerSettings {
  segmentSec: number;
  partSec: number;
  dvrWindowSec: number;
  hotDvrWindowSec?: number;
  windowSec: number;
  ttls: ObjectTtls;
  /** Complete segments the timeline keeps (retention().segmentsKept). */
  segmentsKept: number;
}

export class RenditionPackager {
  private reader = new CmafStreamReader();
  private timeline: Timeline | undefined;
  private init: InitInfo | undefined;
  /** The newest init segment's write, kept to publish again if the store loses it. */
  private initOp: PublishOp | undefined;
  private initBytes: Uint8Array | undefined;
  private initId = 0;
  private partChunks: Uint8Array[] = [];
  private segParts: Uint8Array[] = [];
  /** Chunk bytes received and sitting in the reader/part buffers. */
  chunks = 0;
  onFirstInit?: () => void;

  constructor(
    readonly stream: string,
    readonly spec: RenditionSpec,
    private readonly settings: PackagerSettings,
    private readonly store: MediaStore,
    private readonly publisher: Publisher,
    private readonly resume: TimelineResume,
    private readonly log: Logger,
  ) {}

  /**
   * Bytes from ffmpeg's pipe for this rendition, received at nowMs. zeroWallMs, when the input has a clock
   * (RTMP), is when this transcoder's output time 0 was captured. Throws BoxParseError on malformed media.
   */
  push(data: Uint8Array, nowMs: number, zeroWallMs?: number): void {
    for (const ev of this.reader.push(data)) {
      if (ev.kind === 'init') this.onInit(ev.info, ev.bytes);
      else {
        const tl = this.timeline!;
        // When the chunk's first sample was captured: from the input's clock if known, never after it arrived.
        const received = nowMs - (ev.info.durationTicks * 1000) / tl.timescale;
        const captured =
          zeroWallMs === undefined
            ? received
            : zeroWallMs + (ev.info.baseMediaDecodeTime * 1000) / tl.timescale;
        const startMs = Math.round(Math.min(received, captured));
        this.chunks++;
        this.onEvents(tl.push(ev.info, startMs), ev.bytes);
      }
    }
  }

  /** The transcoder is gone (restart or publisher left): close what is open and expect a new byte stream. */
  discontinuity(): void {
    this.reader = new CmafStreamReader();
    if (this.timeline) this.onEvents(this.timeline.discontinuity(), undefined);
    this.partChunks = [];
  }

  /** The publisher stopped: close the open segment. */
  end(): void {
    if (this.timeline) this.onEvents(this.timeline.end(), undefined);
    this.reader = new CmafStreamReader();
  }

  private onInit(info: InitInfo, bytes: Uint8Array): void {
    const s = this.settings;
    if (!this.timeline) {
      this.timeline = new Timeline(
        {
          timescale: info.timescale,
          segmentTargetTicks: Math.round(s.segmentSec * info.timescale),
          partTargetTicks: Math.round(s.partSec * info.timescale),
          dvrWindowTicks: Math.round(hotDvrSec(s) * info.timescale),
          partRetentionSegments: PART_SEGMENTS,
          eagerSegmentClose: this.spec.alignedKeyframes,
        },
        this.resume,
      );
      this.onFirstInit?.();
    } else if (!this.timeline.atPeriodStart) {
      // A new init mid-stream without a restart: the decoder configuration may have changed.
      this.onEvents(this.timeline.discontinuity(), undefined);
    }
    if (this.timeline.timescale !== info.timescale) {
      this.log.warn(
        { rendition: this.spec.name, was: this.timeline.timescale, now: info.timescale },
        'timescale changed after restart; keeping the first',
      );
    }
    this.init = info;
    this.initBytes = bytes;
    this.initId = this.timeline.upcomingInitId;
    this.publishInit();
  }

  /** Writes the current init segment with the rendition's description (what it is, from the init and the spec). */
  private publishInit(): void {
    const s = this.settings;
    const info = this.init!;
    const bytes = this.initBytes!;
    const initId = this.initId;
    const desc: RenditionInfo = {
      name: this.spec.name,
      kind: info.kind,
      codec: info.codec,
      timescale: this.timeline!.timescale,
      width: info.width,
      height: info.height,
      frameRate: this.spec.frameRate,
      sampleRate: info.sampleRate,
      channelCount: info.channelCount,
      nominalBitrate: this.spec.nominalBitrate,
      segmentTargetTicks: Math.round(s.segmentSec * this.timeline!.timescale),
      partTargetTicks: Math.round(s.partSec * this.timeline!.timescale),
      order: this.spec.order,
      ...(this.spec.language !== undefined ? { language: this.spec.language } : {}),
      ...(this.spec.closedCaptions !== undefined ? { closedCaptions: this.spec.closedCaptions } : {}),
    };
    this.initOp = {
      kind: 'init',
      rendition: this.spec.name,
      bytes: bytes.length,
      readyAt: performance.now(),
      run: () => this.store.publishInit(this.stream, desc, initId, bytes, s.ttls.initSec),
    };
    this.publisher.enqueue(this.initOp);
  }

  /**
   * What the source says about this rendition's track (language, captions). Before the first init segment it
   * goes into the description written with it; if it changes afterwards, the description is written again.
   */
  describe(d: { language?: string; closedCaptions?: boolean }): void {
    const s = this.spec;
    if (s.language === d.language && s.closedCaptions === d.closedCaptions) return;
    s.language = d.language;
    s.closedCaptions = d.closedCaptions;
    if (this.init && this.initBytes) this.publishInit();
  }

  /** The store lost this rendition's init segment and description: write the current ones again, first. */
  republishInit(): void {
    if (this.initOp) this.publisher.enqueue({ ...this.initOp, readyAt: performance.now() }, true);
  }

  private onEvents(events: TimelineEvent[], chunkBytes: Uint8Array | undefined): void {
    const s = this.settings;
    for (const ev of events) {
      if (ev.type === 'chunk') {
        if (chunkBytes) this.partChunks.push(chunkBytes);
      } else if (ev.type === 'part') {
        const bytes = concat(this.partChunks);
        this.partChunks = [];
        this.segParts.push(bytes);
        // Serialize now: the open segment keeps growing after this event. If the same push closes the segment,
        // say so, so no playlist hints at a part that will never exist.
        const closing = events.some((e) => e.type === 'segment' && e.segment.msn === ev.segment.msn);
        const open = { ...ev.segment, parts: [...ev.segment.parts], ...(closing ? { closing: true } : {}) };
        const part = ev.part;
        const op: PublishOp = {
          kind: 'part',
          rendition: this.spec.name,
          msn: part.msn,
          partIndex: part.index,
          bytes: bytes.length,
          readyAt: performance.now(),
          run: () => this.store.publishPart(this.stream, this.spec.name, part, open, bytes, s.ttls),
        };
        this.publisher.enqueue(op);
      } else {
        const bytes = concat(this.segParts);
        this.segParts = [];
        const seg = ev.segment;
        this.publisher.enqueue({
          kind: 'segment',
          rendition: this.spec.name,
          msn: seg.msn,
          bytes: bytes.length,
          readyAt: performance.now(),
          run: (partsDropped) =>
            this.store.publishSegment(
              this.stream,
              this.spec.name,
              partsDropped ? { ...seg, parts: [] } : seg,
              bytes,
              {
                segmentSec: s.ttls.segmentSec,
                initSec: s.ttls.initSec,
                keepSegments: s.segmentsKept,
                keepPartsSegments: PART_SEGMENTS,
              },
            ),
        });
      }
    }
  }
}
