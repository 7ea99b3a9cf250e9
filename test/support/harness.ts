/** Test harness: real redis-server (from global setup), real ffmpeg, the real services in-process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { inject } from 'vitest';
import { type Config, parseConfig, redisTarget } from '../../src/config.js';
import { IngestService } from '../../src/ingest/ingest-service.js';
import type { Logger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { BullRenderQueue } from '../../src/queue/bullmq.js';
import type { Store } from '../../src/store/ports.js';
import { createRedisStore } from '../../src/store/redis/index.js';

export const redisUrl = (): string => inject('redisUrl');

/** A logger that keeps its JSON lines for assertions. */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

/** A small, fast ladder for tests on a 2-core machine. */
export const TEST_LADDER = [
  { name: '360p', height: 360, videoBitrateK: 500, preset: 'ultrafast' as const },
  { name: '240p', height: 240, videoBitrateK: 250, preset: 'ultrafast' as const },
];

export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig({
    redisUrl: redisUrl(),
    keyPrefix: `t${randomBytes(4).toString('hex')}`,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    httpIngest: { host: '127.0.0.1', port: 0 },
    defaults: { segmentSec: 1, partSec: 0.25, windowSec: 6, dvrWindowSec: 30, ladder: TEST_LADDER },
    ...overrides,
  });
}

export interface IngestHarness {
  config: Config;
  ingest: IngestService;
  store: Store;
  lines: Array<Record<string, unknown>>;
  rtmpUrl(key: string): string;
  stop(): Promise<void>;
}

export async function startIngest(config: Config): Promise<IngestHarness> {
  const { log, lines } = captureLogger();
  const target = redisTarget(config);
  const store = createRedisStore({ target, prefix: config.keyPrefix, role: 'ingest' });
  const queue = new BullRenderQueue(target, config.keyPrefix);
  const ingest = new IngestService(config, { store, queue, metrics: createMetrics(), log });
  await ingest.start();
  return {
    config,
    ingest,
    store,
    lines,
    rtmpUrl: (key) => `rtmp://127.0.0.1:${ingest.rtmpPort}/${config.rtmp.app}/${key}`,
    async stop() {
      await ingest.stop();
      await queue.close();
      await store.close();
    },
  };
}

export interface Encoder {
  child: ChildProcess;
  done: Promise<number | null>;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** ffmpeg as the publishing encoder: a moving test pattern and a tone, paced in real time. */
export function encoder(output: string[], seconds: number, size = '640x360'): Encoder {
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=30:duration=${seconds}`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    '30',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    ...output,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    done,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return done;
    },
  };
}

export const rtmpEncoder = (url: string, seconds: number): Encoder => encoder(['-f', 'flv', url], seconds);

/** Polls until fn returns a truthy value (test helper; the product itself never polls). */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
