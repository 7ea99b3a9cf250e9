/**
 * The latency probe: follows an HLS, LL-HLS or DASH URL the way a player does, downloads what a player would,
 * decodes it with ffmpeg and reads the stamps, and measures newest-frame availability latency: when the bytes of
 * a frame could first be downloaded versus when the frame was handed to the encoder.
 *   LL-HLS: requests the preload-hinted part (held by the origin until it exists), as LL players do.
 *   HLS: reloads the playlist every half target duration and fetches new segments.
 *   DASH: reloads the MPD; in low-latency form reads the newest segment while it is written, chunk by chunk.
 */
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { type ChunkInfo, CmafStreamReader } from '../../src/core/index.js';
import { readStamps } from './frame-reader.js';

export interface LatencySample {
  /** Unix ms when the bytes were available to us. */
  atMs: number;
  /** Stamp of the newest frame in those bytes. */
  stampMs: number;
  latencyMs: number;
  object: string;
}

export interface ProbeResult {
  url: string;
  mode: 'll-hls' | 'hls' | 'dash' | 'll-dash';
  samples: LatencySample[];
  /** Objects whose frames could not be decoded or carried no readable stamp. */
  decodeFailures: number;
  /**
   * Breaks in the media timeline of everything fetched (every part or chunk, not only the decoded ones): a
   * fragment whose tfdt is not where the previous one ended. A new init segment (a discontinuity) starts over.
   */
  gaps: number;
  /**
   * Where the playlist or MPD places each decoded segment on the wall clock (HLS: its EXT-X-PROGRAM-DATE-TIME;
   * DASH: availabilityStartTime + its presentation time) minus the stamp of its first frame: how far the
   * stream's anchor is from when the frame was handed to the encoder. A player that computes its latency from
   * the anchor (dash.js, hls.js's PDT arithmetic) is wrong by exactly this much.
   */
  anchorOffsets: Array<{ atMs: number; offsetMs: number }>;
  errors: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Probes of one stream in one process (at the origin and through the CDN) fetch the same objects: the stamps of a
 * run of pieces are decoded once and shared, keyed by the objects' paths and sizes (bytes of one path are the same
 * through the CDN; the size guards against a partial read). Halves the decoding of a two-probe run.
 */
const decoded = new Map<string, { stamps: Promise<Array<number | undefined>> }>();
const pathOf = (object: string): string => {
  try {
    const u = new URL(object);
    return u.pathname + u.hash;
  } catch {
    return object;
  }
};
/** Decodes of a shared run that were served from the other probe's decode (for the report). */
export const decodeStats = { decoded: 0, shared: 0 };
function sharedStamps(init: Uint8Array, pieces: Piece[]): Promise<Array<number | undefined>> {
  const key = `${init.length}|${pieces.map((p) => `${pathOf(p.object)}:${p.bytes.length}`).join('|')}`;
  const hit = decoded.get(key);
  if (hit) {
    decodeStats.shared++;
    decoded.delete(key); // two probes: the second use is the last
    return hit.stamps;
  }
  decodeStats.decoded++;
  const stamps = readStamps([init, ...pieces.map((p) => p.bytes)]);
  stamps.catch(() => undefined); // a failure is the caller's; one the other probe never asks for is not unhandled
  decoded.set(key, { stamps });
  // Bounded: a run the other probe never asks for is forgotten after a while.
  if (decoded.size > 64) decoded.delete(decoded.keys().next().value!);
  return stamps;
}

/** The first fetch of a stream may meet a pipeline still warming up: retry it for a while. */
async function fetchFirst(url: string): Promise<Buffer> {
  for (let i = 0; ; i++) {
    try {
      return await fetchBytes(url);
    } catch (err) {
      if (i >= 30) throw err;
      await sleep(500);
    }
  }
}

async function fetchBytes(url: string, timeoutMs = 15_000): Promise<Buffer> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`);
  return Buffer.from(await r.arrayBuffer());
}

function m3u8(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest;
}

/**
 * Availability times are taken when bytes arrive; decoding happens in a background queue so the fetch loop never
 * falls behind the live edge because of it.
 */
class Recorder {
  readonly result: ProbeResult;
  private queue: Promise<void> = Promise.resolve();
  /** Samples before this time are the join (bytes that already existed), not first availability. */
  private readonly countFromMs: number;
  private timeline: { init: string; reader: CmafStreamReader; nextTicks?: number } | undefined;
  constructor(url: string, mode: ProbeResult['mode'], warmupMs: number) {
    this.result = { url, mode, samples: [], decodeFailures: 0, gaps: 0, anchorOffsets: [], errors: [] };
    this.countFromMs = Date.now() + warmupMs;
  }

  /**
   * Every fetched piece of media, in order: checks that each fragment starts where the previous one ended.
   * Returns the number of samples (frames, for video) it carries.
   */
  media(initUri: string, init: Uint8Array, bytes: Uint8Array): number {
    if (this.timeline?.init !== initUri) {
      this.timeline = { init: initUri, reader: new CmafStreamReader() };
      this.timeline.reader.push(init);
    }
    let frames = 0;
    try {
      for (const ev of this.timeline.reader.push(bytes)) {
        if (ev.kind !== 'chunk') continue;
        this.chunk(ev.info);
        frames += ev.info.sampleCount;
      }
    } catch (err) {
      this.result.errors.push(`${initUri}: ${(err as Error).message}`);
      this.timeline = undefined;
    }
    return frames;
  }

  /** A fragment already parsed by the caller (LL-DASH reads its segment with its own reader). */
  chunk(info: ChunkInfo, initUri?: string): void {
    if (initUri !== undefined && this.timeline?.init !== initUri)
      this.timeline = { init: initUri, reader: new CmafStreamReader() };
    const t = this.timeline;
    if (!t) return;
    if (t.nextTicks !== undefined && info.baseMediaDecodeTime !== t.nextTicks) this.result.gaps++;
    t.nextTicks = info.baseMediaDecodeTime + info.durationTicks;
  }

  /**
   * The pieces of one segment, in order, from its keyframe: each with when its bytes arrived and how many frames
   * it carries. They are decoded together once (one ffmpeg run per segment, not per part) and each piece yields
   * a sample: its arrival minus the stamp of its newest frame. `segmentKey` names the segment for the anchor
   * check (resolveAnchors).
   */
  record(init: Uint8Array, pieces: Piece[], segmentKey?: string): void {
    if (pieces.length === 0) return;
    this.queue = this.queue.then(() => this.decode(init, pieces, segmentKey));
  }

  /** Decoded segments' first-frame stamps, for the anchor check once the manifests have listed them. */
  private readonly firstStamps: Array<{ key: string; atMs: number; stampMs: number }> = [];

  /** After drain(): where the manifest placed each decoded segment (undefined: never seen listed) vs its stamp. */
  resolveAnchors(anchorMs: (key: string) => number | undefined): void {
    for (const f of this.firstStamps) {
      const a = anchorMs(f.key);
      if (a !== undefined) this.result.anchorOffsets.push({ atMs: f.atMs, offsetMs: a - f.stampMs });
    }
  }

  async drain(): Promise<void> {
    await this.queue;
  }

  private async decode(init: Uint8Array, pieces: Piece[], segmentKey?: string): Promise<void> {
    let stamps: Array<number | undefined>;
    try {
      stamps = await sharedStamps(init, pieces);
    } catch (err) {
      this.result.decodeFailures++;
      this.result.errors.push(`${pieces[0]!.object}: ${(err as Error).message}`);
      return;
    }
    const total = pieces.reduce((n, p) => n + p.frames, 0);
    // Frames map to pieces by count; if the decoder disagrees about the count, only the whole can be judged.
    let from = 0;
    const groups =
      stamps.length === total
        ? pieces.map((piece) => ({ piece, stamps: stamps.slice(from, (from += piece.frames)) }))
        : [{ piece: pieces[pieces.length - 1]!, stamps }];
    if (stamps.length !== total) this.result.decodeFailures++;
    if (segmentKey !== undefined && stamps[0] !== undefined && pieces[0]!.atMs >= this.countFromMs)
      this.firstStamps.push({ key: segmentKey, atMs: pieces[0]!.atMs, stampMs: stamps[0] });
    for (const g of groups) {
      const good = g.stamps.filter((x): x is number => x !== undefined);
      if (good.length < g.stamps.length || (g.stamps.length > 0 && good.length === 0))
        this.result.decodeFailures++;
      if (good.length === 0) continue;
      const newest = Math.max(...good);
      const { atMs, object } = g.piece;
      if (g.piece.sample !== false && atMs >= this.countFromMs)
        this.result.samples.push({ atMs, stampMs: newest, latencyMs: atMs - newest, object });
    }
  }
}

interface Piece {
  /** False for bytes fetched after they first became available (their availability time is unknown). */
  sample?: boolean;
  object: string;
  bytes: Uint8Array;
  atMs: number;
  frames: number;
}

/** Follows `url` for `seconds`; the first `warmupSec` (reaching the live edge) are not counted. */
export async function probe(url: string, seconds: number, warmupSec = 5): Promise<ProbeResult> {
  const deadline = Date.now() + (seconds + warmupSec) * 1000;
  if (/\.mpd(\?|$)/.test(url)) return probeDash(url, deadline, warmupSec * 1000);
  return probeHls(url, deadline, warmupSec * 1000);
}

async function probeHls(url: string, deadline: number, warmupMs: number): Promise<ProbeResult> {
  let mediaUrl = url;
  let pl = m3u8((await fetchFirst(url)).toString());
  type Variant = { uri: string; attributes: { BANDWIDTH: number; RESOLUTION?: unknown } };
  // A stream that is just starting may list only what exists yet (its audio): wait a little for video.
  for (let i = 0; pl.playlists?.length && i < 20; i++) {
    if ((pl.playlists as Variant[]).some((v) => v.attributes.RESOLUTION)) break;
    await sleep(500);
    pl = m3u8((await fetchFirst(url)).toString());
  }
  if (pl.playlists?.length) {
    // The lowest-bandwidth video variant: cheapest to decode, same timeline as the others.
    const all = pl.playlists as Variant[];
    const video = all.filter((v) => v.attributes.RESOLUTION);
    const v = [...(video.length ? video : all)].sort(
      (a, b) => a.attributes.BANDWIDTH - b.attributes.BANDWIDTH,
    )[0]!;
    mediaUrl = new URL(v.uri, url).href;
    pl = m3u8((await fetchFirst(mediaUrl)).toString());
  }
  const ll = Boolean(pl.partInf);
  const rec = new Recorder(url, ll ? 'll-hls' : 'hls', warmupMs);
  const inits = new Map<string, Buffer>();
  const initFor = async (uri: string): Promise<Buffer> => {
    const abs = new URL(uri, mediaUrl).href;
    let b = inits.get(abs);
    if (!b) {
      b = await fetchBytes(abs);
      inits.set(abs, b);
    }
    return b;
  };
  const seen = new Set<string>();
  // The parts of the segment being filled, from its first (keyframe) part: decoded together once it is complete.
  let segment: { key: string; init: Buffer; pieces: Piece[] } | undefined;
  // EXT-X-PROGRAM-DATE-TIME of each complete segment seen listed, by media sequence number (m3u8-parser carries
  // it forward from the tag by the durations, as players do).
  const pdts = new Map<string, number>();
  const notePdts = (): void => {
    const list = pl.segments as Array<{ uri: string; programDateTime?: number }>;
    list.forEach((s, i) => {
      if (s.programDateTime === undefined) return;
      pdts.set(String(Number(pl.mediaSequence ?? 0) + i), s.programDateTime);
      pdts.set(s.uri, s.programDateTime);
    });
  };
  const flush = (): void => {
    if (segment) rec.record(segment.init, segment.pieces, segment.key);
    segment = undefined;
  };
  while (Date.now() < deadline) {
    try {
      const segs = pl.segments as Array<{ uri: string; map?: { uri: string } }>;
      const mapUri = (pl.preloadSegment?.map?.uri ?? segs[segs.length - 1]?.map?.uri) as string | undefined;
      if (!mapUri) throw new Error('playlist has no EXT-X-MAP');
      if (ll) {
        const hint = pl.preloadSegment?.preloadHints?.[0]?.uri as string | undefined;
        if (!hint) throw new Error('LL playlist without a preload hint');
        const init = await initFor(mapUri);
        const take = (uri: string, bytes: Buffer, at: number, sample: boolean): void => {
          const m = /(\d+)\.(\d+)\.m4s/.exec(uri);
          const frames = rec.media(mapUri, init, bytes);
          const key = m?.[1] ?? uri;
          if (segment && segment.key !== key) flush();
          // A segment joined mid-way cannot be decoded from its keyframe: start with the next one.
          if (!segment && m && Number(m[2]) === 0) segment = { key, init, pieces: [] };
          segment?.pieces.push({ object: uri, bytes, atMs: at, frames, sample });
        };
        const bytes = await fetchBytes(new URL(hint, mediaUrl).href); // held by the origin until the part exists
        take(hint, bytes, Date.now(), true);
        // The playlist that lists this part is ready now; its preload hint is the next part.
        const m = /(\d+)\.(\d+)\.m4s/.exec(hint);
        const q = m ? `?_HLS_msn=${m[1]}&_HLS_part=${m[2]}` : '';
        pl = m3u8((await fetchBytes(`${mediaUrl.split('?')[0]}${q}`)).toString());
        notePdts();
        // If the playlist moved on by more than one part (a burst, a slow probe), fetch the parts it lists after
        // ours, as a player would: they keep the timeline and the decode whole, but their first availability was
        // missed, so they are not samples.
        const listed = [
          ...(pl.segments as Array<{ parts?: Array<{ uri: string }> }>),
          pl.preloadSegment ?? {},
        ]
          .flatMap((x: { parts?: Array<{ uri: string }> }) => x.parts ?? [])
          .map((x) => x.uri);
        const after = listed.indexOf(hint);
        if (after >= 0)
          for (const uri of listed.slice(after + 1))
            take(uri, await fetchBytes(new URL(uri, mediaUrl).href), Date.now(), false);
      } else {
        const fresh = segs.filter((s) => !seen.has(s.uri));
        const first = seen.size === 0;
        for (const s of fresh) seen.add(s.uri);
        // Like a player joining: only the newest segment counts at start; after that every new one.
        for (const s of first ? fresh.slice(-1) : fresh) {
          const bytes = await fetchBytes(new URL(s.uri, mediaUrl).href);
          const at = Date.now();
          const init = await initFor(s.map?.uri ?? mapUri);
          const frames = rec.media(s.map?.uri ?? mapUri, init, bytes);
          rec.record(init, [{ object: s.uri, bytes, atMs: at, frames }], s.uri);
        }
        await sleep((pl.targetDuration * 1000) / 2);
        pl = m3u8((await fetchBytes(mediaUrl)).toString());
        notePdts();
      }
    } catch (err) {
      rec.result.errors.push((err as Error).message);
      await sleep(500);
      pl = m3u8((await fetchBytes(mediaUrl).catch(() => Buffer.from(''))).toString());
    }
  }
  flush();
  await rec.drain();
  rec.resolveAnchors((key) => pdts.get(key));
  return rec.result;
}

interface DashSeg {
  resolvedUri: string;
  map: { resolvedUri: string };
  number: number;
  /** Seconds from availabilityStartTime (Period@start included), as mpd-parser computes it. */
  presentationTime: number;
}

async function probeDash(url: string, deadline: number, warmupMs: number): Promise<ProbeResult> {
  const text0 = (await fetchFirst(url)).toString();
  const ll = text0.includes('availabilityTimeComplete="false"');
  // A segment is available availabilityTimeOffset before its end (mpd-parser does not apply it): read the MPD
  // that much later, so the newest segment it lists is the one a low-latency player would fetch now.
  const ato = (text: string): number =>
    Number(/availabilityTimeOffset="([\d.]+)"/.exec(text)?.[1] ?? 0) * 1000 || 0;
  const rec = new Recorder(url, ll ? 'll-dash' : 'dash', warmupMs);
  const seen = new Set<string>();
  const inits = new Map<string, Buffer>();
  /** Where the MPD places each segment's start on the wall clock: availabilityStartTime + its presentation time. */
  const anchors = new Map<string, number>();
  let text = text0;
  while (Date.now() < deadline) {
    try {
      const parsed = parseMpd(text, { manifestUri: url, NOW: Date.now() + ato(text), clientOffset: 0 });
      const video = [...parsed.playlists].sort(
        (a: { attributes: { BANDWIDTH: number } }, b: { attributes: { BANDWIDTH: number } }) =>
          a.attributes.BANDWIDTH - b.attributes.BANDWIDTH,
      )[0];
      const segs = video.segments as DashSeg[];
      const target = segs[segs.length - 1];
      if (!target) throw new Error('no segments');
      const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(text)?.[1] ?? '');
      // The newest placement seen, as for HLS's PROGRAM-DATE-TIME: a young period's anchor is still refined.
      if (Number.isFinite(ast))
        for (const seg of segs) anchors.set(seg.resolvedUri, ast + Math.round(seg.presentationTime * 1000));
      let init = inits.get(target.map.resolvedUri);
      if (!init) {
        init = await fetchBytes(target.map.resolvedUri);
        inits.set(target.map.resolvedUri, init);
      }
      if (!seen.has(target.resolvedUri)) {
        seen.add(target.resolvedUri);
        if (ll) await readChunked(target.resolvedUri, target.map.resolvedUri, init, rec, target.resolvedUri);
        else {
          const bytes = await fetchBytes(target.resolvedUri);
          const at = Date.now();
          const frames = rec.media(target.map.resolvedUri, init, bytes);
          rec.record(init, [{ object: target.resolvedUri, bytes, atMs: at, frames }], target.resolvedUri);
        }
      } else {
        await sleep(200);
      }
      text = (await fetchBytes(url)).toString();
    } catch (err) {
      rec.result.errors.push((err as Error).message);
      await sleep(500);
      text = (await fetchBytes(url).catch(() => Buffer.from(text))).toString();
    }
  }
  await rec.drain();
  rec.resolveAnchors((key) => anchors.get(key));
  return rec.result;
}

/** LL-DASH: read a segment while it is being written; each CMAF chunk is measured when its last byte arrives. */
async function readChunked(
  url: string,
  initUri: string,
  init: Buffer,
  rec: Recorder,
  segmentKey: string,
): Promise<void> {
  const r = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  if (!r.ok || !r.body) throw new Error(`HTTP ${r.status} for ${url}`);
  const reader = new CmafStreamReader();
  reader.push(init);
  const pieces: Piece[] = [];
  try {
    for await (const piece of r.body as unknown as AsyncIterable<Uint8Array>) {
      const at = Date.now();
      for (const ev of reader.push(piece)) {
        if (ev.kind !== 'chunk') continue;
        rec.chunk(ev.info, initUri);
        pieces.push({
          object: `${url}#${ev.info.sequenceNumber}`,
          bytes: ev.bytes,
          atMs: at,
          frames: ev.info.sampleCount,
        });
      }
    }
  } finally {
    // The segment starts with a keyframe: its chunks decode together from its start.
    rec.record(init, pieces, segmentKey);
  }
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
}

/** The anchor check over a run: its spread, and the first and last tenth apart (a drift shows as a difference). */
function anchorSummary(a: ProbeResult['anchorOffsets']) {
  const v = a.map((x) => x.offsetMs);
  const tenth = Math.max(1, Math.floor(v.length / 10));
  return {
    n: v.length,
    p5: percentile(v, 0.05),
    p50: percentile(v, 0.5),
    p95: percentile(v, 0.95),
    firstTenthP50: percentile(v.slice(0, tenth), 0.5),
    lastTenthP50: percentile(v.slice(-tenth), 0.5),
  };
}

/** A summary as the probe prints it. */
export function summarizeProbe(r: ProbeResult) {
  const l = r.samples.map((s) => s.latencyMs);
  return {
    url: r.url,
    mode: r.mode,
    samples: l.length,
    latencyMs: {
      p50: percentile(l, 0.5),
      p95: percentile(l, 0.95),
      max: l.length ? Math.max(...l) : NaN,
      min: l.length ? Math.min(...l) : NaN,
    },
    decodeFailures: r.decodeFailures,
    gaps: r.gaps,
    anchorMinusStampMs: anchorSummary(r.anchorOffsets),
    errors: r.errors.slice(0, 10),
  };
}

/** An SVG line chart of latency over time for one or more series. */
export function latencySvg(
  series: Array<{ label: string; points: Array<{ tSec: number; ms: number }> }>,
  title: string,
): string {
  const W = 900;
  const H = 360;
  const pad = 50;
  const all = series.flatMap((s) => s.points);
  const tMax = Math.max(1, ...all.map((p) => p.tSec));
  const yMax = Math.max(500, ...all.map((p) => p.ms)) * 1.1;
  const x = (t: number): number => pad + ((W - 2 * pad) * t) / tMax;
  const y = (ms: number): number => H - pad - ((H - 2 * pad) * ms) / yMax;
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const esc = (s: string): string =>
    s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
  const ticks = Array.from({ length: 6 }, (_, i) => (yMax / 5) * i);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    ...ticks.map(
      (v) =>
        `<line x1="${pad}" x2="${W - pad}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${pad - 5}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`,
    ),
    `<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">latency (ms)</text>`,
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle">time (s)</text>`,
    ...series.map(
      (s, i) =>
        `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5" points="${s.points.map((p) => `${x(p.tSec).toFixed(1)},${y(p.ms).toFixed(1)}`).join(' ')}"/>`,
    ),
    ...series.map(
      (s, i) =>
        `<text x="${W - pad - 200}" y="${40 + 16 * i}" fill="${colors[i % colors.length]}">${esc(s.label)}</text>`,
    ),
    '</svg>',
  ].join('\n');
}
