/**
 * Where a Node process allocates, garbage included: preload it into the process under load, e.g.
 * `READER_NODE_ARGS="--import tsx --import ./tools/load/alloc-profile.ts" ALLOC_PROFILE_OUT=/tmp/reader.heapprofile`,
 * then `npx tsx tools/load/alloc-profile.ts FILE` prints the allocating functions, most bytes first.
 *
 * V8's sampling heap profiler (the inspector's HeapProfiler.startSampling) with the objects later collected by
 * minor and major GCs kept in the profile: `--heap-prof` keeps only what is still alive when it is written, which
 * says nothing about the short-lived garbage that makes the scavenges. Sampling starts ALLOC_PROFILE_AFTER_S
 * (default 30) seconds after the process starts and lasts ALLOC_PROFILE_SECONDS (default 60); one sample per
 * ALLOC_PROFILE_INTERVAL bytes (default 32768, V8's), so bytes are estimates.
 * The profile opens in Chrome DevTools' Memory tab. Code loaded through tsx has no line numbers in it (every
 * src/ frame reads line 1), so functions of one name in one file are counted together.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

/** Self bytes by function (name, file and line), most first, with the share of all sampled bytes. */
export function topAllocators(head: Node, top = 25): Array<{ fn: string; mb: number; share: number }> {
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: Node): void => {
    const f = n.callFrame;
    const where = f.url
      ? `${f.url.replace(/^.*\/(node_modules\/|src\/|tools\/|workers\/)/, '$1')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    by.set(key, (by.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(head);
  return [...by]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, b]) => ({
      fn,
      mb: Math.round(b / 1e5) / 10,
      share: Math.round((b / (total || 1)) * 1000) / 1000,
    }));
}

const out = process.env.ALLOC_PROFILE_OUT;
if (out) {
  const after = Number(process.env.ALLOC_PROFILE_AFTER_S ?? 30) * 1000;
  const seconds = Number(process.env.ALLOC_PROFILE_SECONDS ?? 60);
  const interval = Number(process.env.ALLOC_PROFILE_INTERVAL ?? 32768);
  setTimeout(() => {
    void (async () => {
      const s = new Session();
      s.connect();
      await s.post('HeapProfiler.enable');
      await s.post('HeapProfiler.startSampling', {
        samplingInterval: interval,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      const from = Date.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const { profile } = await s.post('HeapProfiler.stopSampling');
      writeFileSync(out, JSON.stringify({ ...profile, from, to: Date.now() }));
      s.disconnect();
    })();
  }, after).unref();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2]) {
  const p = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { head: Node; from: number; to: number };
  let total = 0;
  const walk = (n: Node): void => {
    total += n.selfSize;
    n.children.forEach(walk);
  };
  walk(p.head);
  const sec = (p.to - p.from) / 1000;
  console.log(
    JSON.stringify(
      {
        seconds: sec,
        sampledMb: Math.round(total / 1e5) / 10,
        mbPerSecond: Math.round(total / 1e5 / sec) / 10,
        top: topAllocators(p.head),
      },
      null,
      2,
    ),
  );
}
