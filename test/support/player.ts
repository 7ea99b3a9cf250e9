/**
 * A player-like client for the end-to-end tests: follows HLS (LL-HLS blocking reloads) and DASH through the CDN,
 * parses everything with m3u8-parser and mpd-parser, fetches every object named, and records violations.
 */
import { createHash } from 'node:crypto';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';

export interface Fetched {
  status: number;
  body: Buffer;
  headers: Headers;
  ms: number;
}

export async function get(url: string, init: RequestInit = {}): Promise<Fetched> {
  const t = performance.now();
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, body, headers: r.headers, ms: performance.now() - t };
}

export function m3u8(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest;
}

export interface CrawlReport {
  playlists: number;
  blockingReloads: number;
  mpds: number;
  objects: Map<string, string>; // url -> sha1
  hlsSegments: Set<string>;
  dashSegments: Set<string>;
  violations: string[];
  msnSeen: Map<string, number[]>;
  discontinuities: number;
}

interface Seg {
  uri: string;
  duration: number;
  parts?: Array<{ uri: string; duration: number }>;
  map?: { uri: string };
  discontinuity?: boolean;
}

/** Follows one stream for `seconds`, the way hls.js (LL) and dash.js would, through `base` (the CDN). */
export async function crawl(
  base: string,
  stream: string,
  seconds: number,
  llRendition: string,
): Promise<CrawlReport> {
  const rep: CrawlReport = {
    playlists: 0,
    blockingReloads: 0,
    mpds: 0,
    objects: new Map(),
    hlsSegments: new Set(),
    dashSegments: new Set(),
    violations: [],
    msnSeen: new Map(),
    discontinuities: 0,
  };
  const root = `${base}/live/${stream}/`;
  const lastMsn = new Map<string, { msn: number; ds: number }>();
  const fetchObject = async (url: string, what: string): Promise<void> => {
    if (rep.objects.has(url)) return;
    const r = await get(url);
    const len = Number(r.headers.get('content-length') ?? r.body.length);
    if (r.status !== 200) rep.violations.push(`${what} ${url}: HTTP ${r.status}`);
    else if (r.body.length === 0 || r.body.length !== len)
      rep.violations.push(`${what} ${url}: short body ${r.body.length}/${len}`);
    else rep.objects.set(url, createHash('sha1').update(r.body).digest('hex'));
  };
  const checkMedia = async (
    rendition: string,
    text: string,
    fetchParts: boolean,
  ): Promise<ReturnType<typeof m3u8>> => {
    const m = m3u8(text);
    rep.playlists++;
    const prev = lastMsn.get(rendition);
    if (prev && m.mediaSequence < prev.msn)
      rep.violations.push(`${rendition}: media sequence went back ${prev.msn} -> ${m.mediaSequence}`);
    if (prev && m.discontinuitySequence < prev.ds)
      rep.violations.push(`${rendition}: discontinuity sequence went back`);
    lastMsn.set(rendition, { msn: m.mediaSequence, ds: m.discontinuitySequence });
    const seen = rep.msnSeen.get(rendition) ?? [];
    rep.msnSeen.set(rendition, seen);
    const segs = m.segments as Seg[];
    segs.forEach((s, i) => {
      if (Math.round(s.duration) > m.targetDuration)
        rep.violations.push(
          `${rendition}: segment ${s.uri} ${s.duration}s exceeds target ${m.targetDuration}`,
        );
      const msn = m.mediaSequence + i;
      if (!seen.includes(msn)) seen.push(msn);
      if (s.uri !== `seg-${msn}.m4s`)
        rep.violations.push(`${rendition}: segment at position ${msn} is ${s.uri}`);
      if (s.discontinuity) rep.discontinuities++;
    });
    const jobs: Array<Promise<void>> = [];
    for (const s of segs) {
      const url = new URL(s.uri, `${root}${rendition}/`).href;
      rep.hlsSegments.add(url);
      jobs.push(fetchObject(url, 'segment'));
      if (s.map) jobs.push(fetchObject(new URL(s.map.uri, `${root}${rendition}/`).href, 'init'));
      if (fetchParts)
        for (const p of s.parts ?? [])
          jobs.push(fetchObject(new URL(p.uri, `${root}${rendition}/`).href, 'part'));
    }
    if (fetchParts)
      for (const p of m.preloadSegment?.parts ?? [])
        jobs.push(fetchObject(new URL(p.uri, `${root}${rendition}/`).href, 'part'));
    await Promise.all(jobs);
    return m;
  };

  const end = Date.now() + seconds * 1000;
  let iteration = 0;
  let hint: { msn: number; part: number } | undefined;
  while (Date.now() < end) {
    iteration++;
    // LL-HLS: a blocking reload for the part after the preload hint's, as hls.js does.
    const q = hint ? `?_HLS_msn=${hint.msn}&_HLS_part=${hint.part}` : '';
    const r = await get(`${root}${llRendition}/index.m3u8${q}`);
    if (hint) rep.blockingReloads++;
    if (r.status !== 200) {
      rep.violations.push(`LL playlist${q}: HTTP ${r.status}`);
      hint = undefined;
      await new Promise((res) => setTimeout(res, 200));
      continue;
    }
    const m = await checkMedia(llRendition, r.body.toString(), true);
    if (hint) {
      const parts = [
        ...(m.segments as Seg[]).flatMap((s) => s.parts ?? []),
        ...(m.preloadSegment?.parts ?? []),
      ].map((p) => p.uri);
      if (
        !parts.includes(`part-${hint.msn}.${hint.part}.m4s`) &&
        !(m.segments as Seg[]).some((s) => s.uri === `seg-${hint!.msn}.m4s`)
      ) {
        rep.violations.push(`blocking reload for ${hint.msn}.${hint.part} returned a playlist without it`);
      }
    }
    const h = m.preloadSegment?.preloadHints?.[0]?.uri as string | undefined;
    const mm = h ? /part-(\d+)\.(\d+)\.m4s/.exec(h) : null;
    hint = mm ? { msn: Number(mm[1]), part: Number(mm[2]) } : undefined;

    if (iteration % 4 === 1) {
      const master = await get(`${root}master.m3u8`);
      if (master.status !== 200) rep.violations.push(`master: HTTP ${master.status}`);
      const mv = m3u8(master.body.toString());
      const others = [
        ...mv.playlists.map((p: { uri: string }) => p.uri),
        ...Object.values(mv.mediaGroups?.AUDIO?.audio ?? {}).map((g) => (g as { uri: string }).uri),
      ]
        .map((u: string) => u.split('/')[0]!)
        .filter((n: string) => n !== llRendition);
      for (const name of others) {
        const pl = await get(`${root}${name}/index.m3u8`);
        if (pl.status !== 200) rep.violations.push(`${name}: HTTP ${pl.status}`);
        else await checkMedia(name, pl.body.toString(), false);
      }
      for (const file of ['manifest.mpd', 'manifest-ll.mpd']) {
        const d = await get(`${root}${file}`);
        if (d.status !== 200) {
          rep.violations.push(`${file}: HTTP ${d.status}`);
          continue;
        }
        rep.mpds++;
        const parsed = parseMpd(d.body.toString(), {
          manifestUri: `${root}${file}`,
          NOW: Date.now(),
          clientOffset: 0,
        });
        const lists = [
          ...parsed.playlists,
          ...Object.values(parsed.mediaGroups?.AUDIO?.audio ?? {}).flatMap(
            (g) => (g as { playlists: unknown[] }).playlists,
          ),
        ] as Array<{
          segments: Array<{ resolvedUri: string; map?: { resolvedUri: string } }>;
        }>;
        if (lists.length === 0) rep.violations.push(`${file}: no representations`);
        for (const pl of lists) {
          const segs = file === 'manifest.mpd' ? pl.segments : pl.segments.slice(0, -1); // LL: the last one is in progress
          for (const s of segs) {
            rep.dashSegments.add(s.resolvedUri);
            await fetchObject(s.resolvedUri, `dash segment (${file})`);
            if (s.map) await fetchObject(s.map.resolvedUri, 'dash init');
          }
        }
      }
    }
  }
  return rep;
}
