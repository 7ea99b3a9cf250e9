/**
 * One CMAF ingest track, fed by one or more senders (redundant encoders, DASH-IF ingest 6.2). Fragments are
 * told apart by media time alone (tfdt, in the track timescale): timestamp-aligned senders produce the same
 * tfdt for the same media, so the first fragment to reach a media time is kept and any later fragment starting
 * before the end of what was kept is a duplicate. Pure bookkeeping: the caller feeds the packager.
 */
import type { ChunkInfo, InitInfo, TrackKind } from '../../../core/index.js';

/** next: contiguous, feed it. duplicate: media already kept. jump: feed it after a discontinuity. */
export type MergeDecision = 'next' | 'duplicate' | 'jump';

/** Other senders silent this long: a sender far behind is a restarted encoder, not a laggard. */
export const PEERS_QUIET_MS = 2000;
/** How far behind (media seconds) a sender must be, with its peers quiet, to count as restarted. */
export const RESTART_BEHIND_SEC = 2;

export class TrackMerger {
  /** The first header received (pre-read for one-segment-per-request senders). */
  init: { bytes: Uint8Array; info: InitInfo } | undefined;
  /** The header the packager was last fed. */
  fed: Uint8Array | undefined;
  /** End (tfdt + duration) of the last kept fragment. */
  endTicks: number | undefined;
  duplicates = 0;
  /** Duplicates whose tfdt is not the start of a kept fragment: the senders' fragments are not aligned. */
  misaligned = 0;
  /** Starts of the recently kept fragments. */
  private keptStarts: number[] = [];
  /** The track's lmsg fragment was kept. */
  ended = false;
  private lastSender: number | undefined;
  private lastKeptMs = 0;

  constructor(
    readonly name: string,
    readonly kind: TrackKind,
  ) {}

  decide(sender: number, init: { info: InitInfo }, chunk: ChunkInfo, nowMs: number): MergeDecision {
    const end = this.endTicks;
    if (end === undefined) return 'next';
    const timescale = init.info.timescale;
    const tfdt = chunk.baseMediaDecodeTime;
    if (tfdt < end) {
      // The same sender going back in time restarted; a sender far behind while every other sender is silent
      // (the one that was ahead is gone) is a restarted encoder too. Otherwise another sender got here first.
      const restarted =
        sender === this.lastSender ||
        (nowMs - this.lastKeptMs > PEERS_QUIET_MS && end - tfdt > RESTART_BEHIND_SEC * timescale);
      if (!restarted) {
        this.duplicates++;
        if (!this.keptStarts.includes(tfdt)) this.misaligned++;
        return 'duplicate';
      }
      return 'jump';
    }
    // The timeline's own rule (core Timeline.push): a forward gap past a chunk and half a second is a break.
    const tolerance = Math.max(chunk.durationTicks, timescale / 2);
    return tfdt - end > tolerance ? 'jump' : 'next';
  }

  /** The fragment was fed to the packager. */
  accepted(sender: number, chunk: ChunkInfo, nowMs: number): void {
    this.endTicks = chunk.baseMediaDecodeTime + chunk.durationTicks;
    this.keptStarts.push(chunk.baseMediaDecodeTime);
    if (this.keptStarts.length > 256) this.keptStarts.shift();
    this.lastSender = sender;
    this.lastKeptMs = nowMs;
  }
}

/**
 * Does a CMAF chunk's styp carry the `lmsg` compatible brand (last media segment, CMAF 7.3.2 / DASH-IF ingest:
 * the track ends)? Looks at the top-level boxes before the moof.
 */
export function hasLmsg(chunk: Uint8Array): boolean {
  let p = 0;
  while (p + 8 <= chunk.length) {
    const size = ((chunk[p]! << 24) >>> 0) + (chunk[p + 1]! << 16) + (chunk[p + 2]! << 8) + chunk[p + 3]!;
    const type = String.fromCharCode(chunk[p + 4]!, chunk[p + 5]!, chunk[p + 6]!, chunk[p + 7]!);
    if (type === 'moof' || size < 8 || p + size > chunk.length) return false;
    if (type === 'styp') {
      // major_brand, minor_version, then compatible_brands to the end of the box.
      for (let b = p + 16; b + 4 <= p + size; b += 4)
        if (String.fromCharCode(chunk[b]!, chunk[b + 1]!, chunk[b + 2]!, chunk[b + 3]!) === 'lmsg')
          return true;
      if (String.fromCharCode(chunk[p + 8]!, chunk[p + 9]!, chunk[p + 10]!, chunk[p + 11]!) === 'lmsg')
        return true;
    }
    p += size;
  }
  return false;
}
