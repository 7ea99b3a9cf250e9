/**
 * npm run source:delay [-- SECONDS]: how long after its stamp each frame of the stamped source leaves its encoder.
 * The source publishes FLV to a local TCP listener here; each video tag's arrival is taken as it is read, the
 * stream is then decoded and each frame's stamp read (frame i = video tag i: the source encodes without
 * B-frames). Prints JSON: the delay's spread, its first second (the connect's backlog), and what an ingest that
 * anchors on the earliest arrival of each input timestamp would take as the anchor, against frame 0's stamp.
 */
import { createServer } from 'node:net';
import { readStamps } from '../latency/frame-reader.js';
import { percentile } from '../latency/probe.js';
import { StampedSource } from './stamped-source.js';

const seconds = Number(process.argv[2] ?? 20);
const chunks: Buffer[] = [];
const tags: Array<{ ts: number; atMs: number }> = [];
let buf = Buffer.alloc(0);
let off = 13; // FLV header (9) + PreviousTagSize0 (4)
const server = createServer((socket) => {
  socket.on('data', (d: Buffer) => {
    const atMs = Date.now();
    chunks.push(d);
    buf = Buffer.concat([buf, d]);
    while (buf.length >= off + 11) {
      const size = buf.readUIntBE(off + 1, 3);
      if (buf.length < off + 11 + size + 4) break;
      // Video tag, AVC NALU (not the sequence header): one frame.
      if (buf[off] === 9 && buf[off + 12] === 1)
        tags.push({ ts: buf.readUIntBE(off + 4, 3) | (buf[off + 7]! << 24), atMs });
      off += 11 + size + 4;
    }
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const { port } = server.address() as { port: number };
const source = new StampedSource({
  url: 'unused',
  outputArgs: ['-flush_packets', '1', '-f', 'flv', `tcp://127.0.0.1:${port}`],
});
source.start();
await new Promise((r) => setTimeout(r, seconds * 1000));
await Promise.race([source.stop(), new Promise((r) => setTimeout(r, 3000))]);
server.close();
const stamps = await readStamps([Buffer.concat(chunks)]);
const n = Math.min(stamps.length, tags.length);
const delays: number[] = [];
for (let i = 0; i < n; i++) if (stamps[i] !== undefined) delays.push(tags[i]!.atMs - stamps[i]!);
const firstSecond = delays.slice(0, 30);
// The ingest's input clock: the earliest (arrival - timestamp), over the first 2 s and over the whole run.
const zeros = tags.slice(0, n).map((t) => t.atMs - t.ts);
const stamp0 = stamps[0];
console.log(
  JSON.stringify(
    {
      bench: 'source-delay',
      config: { seconds, source: 'stamped 1280x720 30 fps, x264 ultrafast zerolatency, FLV over TCP' },
      frames: n,
      unreadableStamps: stamps.slice(0, n).filter((s) => s === undefined).length,
      droppedBySource: source.droppedFrames,
      delayMs: {
        min: Math.min(...delays),
        p50: percentile(delays, 0.5),
        p95: percentile(delays, 0.95),
        p99: percentile(delays, 0.99),
        max: Math.max(...delays),
      },
      firstSecondMs: { first: firstSecond[0], last: firstSecond.at(-1) },
      anchorMinusStamp0Ms:
        stamp0 === undefined
          ? null
          : { first2s: Math.min(...zeros.slice(0, 60)) - stamp0, wholeRun: Math.min(...zeros) - stamp0 },
    },
    null,
    2,
  ),
);
process.exit(0);
