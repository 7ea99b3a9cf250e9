/**
 * npm run latency -- URL [--seconds 60] [--out DIR]
 * Probes any HLS, LL-HLS or DASH URL carrying the stamped source and prints newest-frame availability latency as
 * JSON; writes probe.json and probe.svg to --out (default: the current directory).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencySvg, probe, summarizeProbe } from '../tools/latency/probe.js';

const args = process.argv.slice(2);
const url = args.find((a) => /^https?:\/\//.test(a));
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
if (!url) {
  process.stderr.write('usage: npm run latency -- URL [--seconds 60] [--out DIR]\n');
  process.exit(2);
}
const seconds = Number(opt('seconds', '60'));
const out = opt('out', '.');
const result = await probe(url, seconds);
const summary = summarizeProbe(result);
const t0 = result.samples[0]?.atMs ?? 0;
writeFileSync(join(out, 'probe.json'), JSON.stringify({ summary, samples: result.samples }, null, 2));
writeFileSync(
  join(out, 'probe.svg'),
  latencySvg(
    [
      {
        label: `${summary.mode} availability`,
        points: result.samples.map((s) => ({ tSec: (s.atMs - t0) / 1000, ms: s.latencyMs })),
      },
    ],
    `Newest-frame availability latency: ${url}`,
  ),
);
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
