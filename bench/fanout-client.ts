/**
 * Load generator for the blocking-reload fan-out (run as its own process by bench/origin.ts): opens N
 * connections that each ask for the same future part (_HLS_msn/_HLS_part) and reports when each was answered.
 */
import { Agent, request } from 'node:http';

const [url, countS] = process.argv.slice(2);
const count = Number(countS ?? 500);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const results: Array<{ status: number; doneAtMs: number; bytes: number }> = [];
let sentAt = 0;
await new Promise<void>((resolve) => {
  let pending = count;
  sentAt = Date.now();
  for (let i = 0; i < count; i++) {
    const req = request(url!, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => {
        results.push({ status: res.statusCode ?? 0, doneAtMs: Date.now(), bytes });
        if (process.env.BENCH_DEBUG && res.statusCode !== 200 && results.length === 1)
          process.stderr.write(`first non-200: ${res.statusCode} after ${Date.now() - sentAt} ms\n`);
        if (--pending === 0) resolve();
      });
    });
    req.on('error', () => {
      results.push({ status: 0, doneAtMs: Date.now(), bytes: 0 });
      if (--pending === 0) resolve();
    });
    req.end();
  }
});
process.stdout.write(JSON.stringify({ sentAt, results }));
