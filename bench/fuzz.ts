/**
 * npm run bench:fuzz — mutation fuzzing of the three parsers that take bytes from strangers (not in CI):
 * - the RTMP session (handshake, chunk stream, AMF0 commands) — src/rtmp/session.ts; only RtmpProtocolError may
 *   be thrown;
 * - the ISO-BMFF stream reader (ffmpeg's CMAF output, the CMAF ingest) — src/core/isobmff/; only BoxParseError;
 * - the reader's HTTP routing as the reader runs it (URL parse, path decode, route(), directives()) — nothing may
 *   be thrown (a bad URL is a 400/404 decided by return values).
 * Inputs are real ones (a publisher's byte stream, the fixtures' fragmented MP4s, real URLs) mutated by a seeded
 * generator (bit flips, byte sets, inserts, deletes, duplicated and swapped slices, truncation, interesting
 * integers), fed in random piece sizes. Any other error is a finding (deduplicated by type, message and first
 * stack frame). The heap is sampled every 10,000 inputs. Prints JSON.
 *
 * Env: BENCH_FUZZ_INPUTS (per target, default 1,000,000), BENCH_FUZZ_SEED (default 1), BENCH_FUZZ_TARGETS.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CmafStreamReader } from '../src/core/isobmff/index.js';
import { BoxParseError } from '../src/core/errors.js';
import { encodeAmf0 } from '../src/rtmp/amf0.js';
import { ChunkWriter, MSG } from '../src/rtmp/chunk.js';
import { RtmpProtocolError } from '../src/rtmp/errors.js';
import { RtmpSession } from '../src/rtmp/session.js';
import { directives, route } from '../src/reader/routes.js';

const INPUTS = Number(process.env.BENCH_FUZZ_INPUTS ?? 1_000_000);
const SEED = Number(process.env.BENCH_FUZZ_SEED ?? 1);
const TARGETS = (process.env.BENCH_FUZZ_TARGETS ?? 'rtmp,isobmff,http').split(',');

/** xorshift32: deterministic, so a finding is reproduced from (seed, target, index). */
class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x7fffffff, 0xffffffff];

/** 1 to 8 mutations of a copy of `seed`. */
function mutate(rng: Rng, seed: Uint8Array, maxLen: number): Uint8Array {
  let b = Buffer.from(seed);
  const n = 1 + rng.int(8);
  for (let k = 0; k < n; k++) {
    const p = rng.int(Math.max(1, b.length));
    switch (rng.int(9)) {
      case 0: // bit flip
        if (b.length) b[p] = b[p]! ^ (1 << rng.int(8));
        break;
      case 1: // random byte
        if (b.length) b[p] = rng.int(256);
        break;
      case 2: {
        // interesting big-endian integer (sizes, lengths, counts)
        const v = rng.pick(INTERESTING);
        const w = rng.pick([1, 2, 3, 4]);
        for (let i = 0; i < w && p + i < b.length; i++) b[p + i] = (v >>> (8 * (w - 1 - i))) & 0xff;
        break;
      }
      case 3: {
        // insert random bytes
        const ins = Buffer.alloc(1 + rng.int(16));
        for (let i = 0; i < ins.length; i++) ins[i] = rng.int(256);
        b = Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
        break;
      }
      case 4: // delete a slice
        b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + rng.int(64)))]);
        break;
      case 5: {
        // duplicate a slice
        const len = 1 + rng.int(256);
        b = Buffer.concat([b.subarray(0, p + len), b.subarray(p, p + len), b.subarray(p + len)]);
        break;
      }
      case 6: {
        // swap two slices
        const q = rng.int(Math.max(1, b.length));
        const len = 1 + rng.int(64);
        const a1 = Buffer.from(b.subarray(p, p + len));
        const a2 = Buffer.from(b.subarray(q, q + len));
        a2.copy(b, p);
        a1.copy(b, q);
        break;
      }
      case 7: // truncate
        b = b.subarray(0, p);
        break;
      case 8: // random run
        b.fill(rng.int(256), p, Math.min(b.length, p + 1 + rng.int(32)));
        break;
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/** Feeds `b` in random piece sizes: one input in 50 drips (pieces of 1-7 bytes), the others as a socket reads. */
function pieces(rng: Rng, b: Uint8Array, feed: (p: Uint8Array) => void): void {
  const n = rng.int(50) === 0 ? rng.pick([1, 7]) : rng.pick([64, 1500, 4096, 65536]);
  for (let p = 0; p < b.length;) {
    const len = 1 + rng.int(n);
    feed(b.subarray(p, p + len));
    p += len;
  }
}

interface Finding {
  count: number;
  error: string;
  frame: string;
  firstIndex: number;
  inputHead: string;
}

interface TargetResult {
  target: string;
  inputs: number;
  seconds: number;
  inputsPerSec: number;
  expectedErrors: number;
  accepted: number;
  findings: Finding[];
  heapUsedMaxMb: number;
  rssMaxMb: number;
}

function runTarget(
  target: string,
  seeds: Uint8Array[],
  maxLen: number,
  one: (input: Uint8Array, rng: Rng) => void,
  expected: (err: unknown) => boolean,
): TargetResult {
  const rng = new Rng(SEED * 7919 + target.length);
  const findings = new Map<string, Finding>();
  let expectedErrors = 0;
  let heapMax = 0;
  let rssMax = 0;
  const t0 = performance.now();
  for (let i = 0; i < INPUTS; i++) {
    const seed = rng.pick(seeds);
    // One input in 20 is the seed itself cut at a random point (a peer that stops mid-way).
    const input = rng.int(20) === 0 ? seed.subarray(0, rng.int(seed.length + 1)) : mutate(rng, seed, maxLen);
    try {
      one(input, rng);
    } catch (err) {
      if (expected(err)) expectedErrors++;
      else {
        const e = err instanceof Error ? err : new Error(String(err));
        const frame = (e.stack ?? '').split('\n')[1]?.trim() ?? '';
        const key = `${e.name}: ${e.message.slice(0, 80)} @ ${frame}`;
        const f = findings.get(key);
        if (f) f.count++;
        else
          findings.set(key, {
            count: 1,
            error: `${e.name}: ${e.message.slice(0, 200)}`,
            frame,
            firstIndex: i,
            inputHead: Buffer.from(input.subarray(0, 64)).toString('hex'),
          });
      }
    }
    if (i % 10_000 === 0) {
      const m = process.memoryUsage();
      heapMax = Math.max(heapMax, m.heapUsed);
      rssMax = Math.max(rssMax, m.rss);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    target,
    inputs: INPUTS,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSec: Math.round(INPUTS / seconds),
    expectedErrors,
    accepted: INPUTS - expectedErrors - [...findings.values()].reduce((n, f) => n + f.count, 0),
    findings: [...findings.values()],
    heapUsedMaxMb: Math.round(heapMax / 1e5) / 10,
    rssMaxMb: Math.round(rssMax / 1e5) / 10,
  };
}

// --- RTMP: what a publisher (ffmpeg, OBS) sends, as one byte stream -------------------------------------------
const limits = { maxChunkSize: 1 << 20, maxMessageBytes: 8 << 20, maxChunkStreams: 64 };
function publisherStream(withMedia: number): Uint8Array {
  const w = new ChunkWriter();
  const cmd = (...v: Parameters<typeof encodeAmf0>): Buffer =>
    w.encode({ csid: 3, typeId: MSG.COMMAND_AMF0, streamId: 0, timestamp: 0, payload: encodeAmf0(...v) });
  const out: Uint8Array[] = [
    Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 7)]),
    Buffer.alloc(1536, 9),
    w.encode({
      csid: 2,
      typeId: MSG.SET_CHUNK_SIZE,
      streamId: 0,
      timestamp: 0,
      payload: Buffer.from([0, 0, 16, 0]),
    }),
    cmd('connect', 1, { app: 'live', type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl: 'rtmp://h/live' }),
    cmd('releaseStream', 2, null, 'key'),
    cmd('FCPublish', 3, null, 'key'),
    cmd('createStream', 4, null),
    w.encode({
      csid: 4,
      typeId: MSG.COMMAND_AMF0,
      streamId: 1,
      timestamp: 0,
      payload: encodeAmf0('publish', 5, null, 'key?token=x', 'live'),
    }),
    w.encode({
      csid: 4,
      typeId: MSG.DATA_AMF0,
      streamId: 1,
      timestamp: 0,
      payload: encodeAmf0('@setDataFrame', 'onMetaData', { width: 640, height: 360, videocodecid: 7 }),
    }),
  ];
  for (let i = 0; i < withMedia; i++) {
    const video = Buffer.alloc(200 + i * 97, i);
    video[0] = i === 0 ? 0x17 : 0x27;
    video[1] = i === 0 ? 0 : 1;
    out.push(w.encode({ csid: 6, typeId: MSG.VIDEO, streamId: 1, timestamp: i * 33, payload: video }));
    out.push(
      w.encode({
        csid: 5,
        typeId: MSG.AUDIO,
        streamId: 1,
        timestamp: i * 21,
        payload: Buffer.from([0xaf, 1, 2, 3]),
      }),
    );
  }
  out.push(cmd('FCUnpublish', 6, null, 'key'), cmd('deleteStream', 7, null, 1));
  return Buffer.concat(out);
}

function rtmpOne(input: Uint8Array, rng: Rng): void {
  const s = new RtmpSession(limits);
  pieces(rng, input, (p) => {
    for (const a of s.push(p)) if (a.type === 'publish') s.acceptPublish(a.name);
  });
}

// --- ISO-BMFF: the fixtures' fragmented MP4s (init + CMAF chunks) -----------------------------------------------
function isoOne(input: Uint8Array, rng: Rng): void {
  const r = new CmafStreamReader({ maxBoxBytes: 1 << 20 });
  pieces(rng, input, (p) => void r.push(p));
}

// --- HTTP routing, as the reader runs it (reader.ts serve()) -----------------------------------------------------
const URLS = [
  '/live/cam/master.m3u8',
  '/live/cam/360p/index.m3u8?_HLS_msn=12&_HLS_part=3&_HLS_skip=YES',
  '/live/cam/360p/index.m3u8?_HLS_msn=12',
  '/live/cam/360p/dvr.m3u8',
  '/live/cam/manifest.mpd',
  '/live/cam/manifest-ll.mpd',
  '/live/cam/360p/init-3.mp4',
  '/live/cam/360p/seg-120.m4s',
  '/live/cam/audio/part-120.4.m4s',
  '/live/a_b-c/240p/seg-9007199254740991.m4s',
  '/time',
  '/streams',
  '/metrics',
  '/vendor/hls.min.js',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/live/cam/360p/index.m3u8?_HLS_msn=1&_HLS_msn=2',
];
function httpOne(input: Uint8Array): void {
  const raw = Buffer.from(input).toString('latin1');
  if (raw.length > 2048) return;
  let url: URL;
  try {
    url = new URL(raw, 'http://reader');
  } catch {
    return; // the reader answers 400
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return; // not one of ours: 404
  }
  const r = route(path);
  if (r?.kind === 'media-playlist') {
    const d = directives(url.searchParams);
    if (!('error' in d) && d.part !== undefined && d.msn === undefined)
      throw new Error('part without msn accepted');
  }
}

const results: TargetResult[] = [];
for (const t of TARGETS) {
  if (t === 'rtmp')
    results.push(
      runTarget(
        'rtmp-session',
        [publisherStream(0), publisherStream(3), publisherStream(12)],
        64 * 1024,
        rtmpOne,
        (e) => e instanceof RtmpProtocolError,
      ),
    );
  if (t === 'isobmff') {
    const seeds = ['h264', 'aac', 'hevc', 'opus'].map(
      (n) => new Uint8Array(readFileSync(`fixtures/${n}.mp4`)),
    );
    results.push(
      runTarget('isobmff-stream-reader', seeds, 64 * 1024, isoOne, (e) => e instanceof BoxParseError),
    );
  }
  if (t === 'http')
    results.push(
      runTarget(
        'reader-routing',
        URLS.map((u) => Buffer.from(u)),
        4096,
        (i) => httpOne(i),
        () => false,
      ),
    );
  process.stderr.write(`${t} done\n`);
}

console.log(
  JSON.stringify(
    {
      bench: 'fuzz',
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      config: {
        inputsPerTarget: INPUTS,
        seed: SEED,
        generator:
          'seeded xorshift32 mutations of real inputs (1-8 of: bit flip, byte set, interesting integer, insert, delete, duplicate, swap, truncate, run), fed in random piece sizes (1 input in 50 in pieces of 1-7 bytes); 1 in 20 inputs is a seed cut short',
        seeds: {
          'rtmp-session':
            'publisher byte streams: C0C1, C2, set chunk size, connect, releaseStream, FCPublish, createStream, publish, @setDataFrame, 0/3/12 video+audio messages, FCUnpublish, deleteStream',
          'isobmff-stream-reader':
            'fixtures/{h264,aac,hevc,opus}.mp4 (init + fragments), mutated copies capped at 64 KiB',
          'reader-routing': `${URLS.length} real reader URLs through new URL, decodeURIComponent, route(), directives()`,
        },
        allowedErrors: {
          'rtmp-session': 'RtmpProtocolError',
          'isobmff-stream-reader': 'BoxParseError',
          'reader-routing': 'none (return values decide 400/404)',
        },
        slowloris:
          'not repeated here: test/e2e/slowloris.test.ts holds 200 half-open HTTP and 50 half-handshake RTMP connections against a live stream (playlist max 9 ms) and checks the timeouts end them',
      },
      targets: results,
      findings: results.reduce((n, r) => n + r.findings.length, 0),
    },
    null,
    2,
  ),
);
