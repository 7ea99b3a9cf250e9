/**
 * The Lua scripts (lua/verbNoun-<numKeys>.lua, BullMQ's convention) with typed argument builders: callers pass
 * named fields, never positional lists. `-- @include name` lines are replaced by lua/includes/name.lua.
 */
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import type { StreamKeys } from './keys.js';

type Arg = string | number | Buffer;
interface Call {
  keys: string[];
  args: Arg[];
}

const FILES = {
  publishInit: 'publishInit-3',
  publishPart: 'publishPart-4',
  publishSegment: 'publishSegment-7',
  storeManifest: 'storeManifest-1',
  claimLock: 'claimLock-1',
  releaseLock: 'releaseLock-1',
} as const;
export type ScriptName = keyof typeof FILES;

const lua = (file: string): string =>
  readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8').replace(
    /^-- @include (\w+)$/gm,
    (_, inc: string) => readFileSync(new URL(`./lua/includes/${inc}.lua`, import.meta.url), 'utf8'),
  );

/** The source of a script with its includes expanded (tests read it too). */
export function scriptSource(name: ScriptName): string {
  return lua(FILES[name]);
}

/** Registers every script on a connection (EVALSHA with automatic reload). */
export function defineScripts(client: Redis | Cluster): void {
  for (const [name, file] of Object.entries(FILES)) {
    if (name in client) continue;
    client.defineCommand(name, { numberOfKeys: Number(file.split('-')[1]), lua: lua(file) });
  }
}

type Runner = (...a: Arg[]) => Promise<unknown>;
/** Runs a built call on a client or a pipeline that has the scripts defined. */
export function run(target: unknown, name: ScriptName, c: Call): Promise<unknown> {
  const fn = (target as Record<string, Runner>)[name]!;
  return fn.call(target, ...c.keys, ...c.args);
}

export const build = {
  publishInit(
    k: StreamKeys,
    o: {
      rendition: string;
      initFile: string;
      bytes: Buffer;
      ttlSec: number;
      initId: number;
      description: string;
    },
  ): Call {
    return {
      keys: [k.object(o.rendition, o.initFile), k.seq, k.meta],
      args: [o.bytes, o.ttlSec, o.rendition, o.initId, o.description],
    };
  },
  publishPart(
    k: StreamKeys,
    o: {
      rendition: string;
      partFile: string;
      bytes: Buffer;
      ttlSec: number;
      open: string;
      openTtlSec: number;
      durationTicks: number;
    },
  ): Call {
    return {
      keys: [k.object(o.rendition, o.partFile), k.open(o.rendition), k.seq, k.meta],
      args: [o.bytes, o.ttlSec, o.open, o.openTtlSec, o.rendition, o.durationTicks],
    };
  },
  publishSegment(
    k: StreamKeys,
    o: {
      rendition: string;
      segmentFile: string;
      initFile: string;
      bytes: Buffer;
      ttlSec: number;
      entry: string;
      parts: string;
      keepSegments: number;
      keepPartsSegments: number;
      initTtlSec: number;
    },
  ): Call {
    return {
      keys: [
        k.object(o.rendition, o.segmentFile),
        k.segments(o.rendition),
        k.parts(o.rendition),
        k.open(o.rendition),
        k.seq,
        k.meta,
        k.object(o.rendition, o.initFile),
      ],
      args: [
        o.bytes,
        o.ttlSec,
        o.entry,
        o.parts,
        o.rendition,
        o.keepSegments,
        o.keepPartsSegments,
        o.initTtlSec,
      ],
    };
  },
  storeManifest(
    k: StreamKeys,
    o: {
      name: string;
      version: number;
      body: string;
      ttlSec: number;
      msn: number;
      part: number;
      renderedAt: number;
      targetSec: number;
    },
  ): Call {
    return {
      keys: [k.manifest(o.name)],
      args: [o.version, o.body, o.ttlSec, o.msn, o.part, o.renderedAt, o.targetSec],
    };
  },
  claimLock(k: StreamKeys, o: { holder: string; ttlMs: number; take: boolean }): Call {
    return { keys: [k.publisher], args: [o.holder, o.ttlMs, o.take ? 1 : 0] };
  },
  releaseLock(k: StreamKeys, o: { holder: string }): Call {
    return { keys: [k.publisher], args: [o.holder] };
  },
};
