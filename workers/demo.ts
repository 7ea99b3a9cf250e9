/**
 * npm run demo: the whole pipeline on one box with nothing to set up. Starts an embedded redis-server when no
 * REDIS_URL is given, runs ingest + manifest worker + reader, publishes the built-in test stream over RTMP as
 * "demo", and prints where to watch it. Ctrl-C stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../src/config.js';
import { type EmbeddedRedis, startRedisServer } from '../tools/process/redis-server.js';
import { StampedSource } from '../tools/source/stamped-source.js';
import { publicPath } from '../src/core/index.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { startNode } from './compose.js';

let redis: EmbeddedRedis | undefined;
const env = { ...process.env };
if (!env.REDIS_URL) {
  redis = await startRedisServer();
  env.REDIS_URL = redis.url;
}
let config;
try {
  config = loadConfig(env.WELLSPRING_CONFIG, { LOG_LEVEL: 'warn', ...env });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    await redis?.stop();
    process.exit(2);
  }
  throw err;
}
// The demo keeps a disk cold tier under the working directory (issue #11; git-ignored) unless the config names one.
if (config.cold.type === 'none' && !env.WELLSPRING_CONFIG) config.cold.type = 'disk';
// The operator dashboard at / sits behind a control API token: the demo makes one for this run when the config
// names none, and prints it (nothing is written to disk).
const demoToken = config.api.tokens.length === 0 ? randomBytes(16).toString('hex') : undefined;
if (demoToken) config.api.tokens.push({ name: 'demo', token: demoToken, scope: 'admin' });
const log = createLogger(config.logLevel, 'demo');
const node = await startNode(config, ['ingest', 'manifest', 'reader'], log, createMetrics());
const httpPort = node.httpPort!;
const rtmpPort = node.rtmpPort!;
const host = '127.0.0.1';

let source: StampedSource | undefined;
let stopping = false;
const startSource = (): void => {
  // Moving pattern, burned-in clock, a beep each second, and a machine-readable time stamp in every frame
  // (npm run latency -- URL measures against it).
  const s = new StampedSource({
    url: `rtmp://${host}:${rtmpPort}/${config.rtmp.app}/demo`,
    ffmpegPath: config.ffmpegPath,
  });
  source = s;
  s.start();
  void s.done.then((code) => {
    if (stopping) return;
    log.warn({ code }, 'demo source exited; restarting it');
    setTimeout(startSource, 1000);
  });
};
startSource();

const base = `http://${host}:${httpPort}`;
process.stdout.write(`
Wellspring demo is running${redis ? ` (embedded redis-server on port ${redis.port})` : ''}.

  Watch in a browser:  ${base}/
  HLS / LL-HLS:        ${base}${publicPath.master('demo')}
  DASH:                ${base}${publicPath.mpd('demo')}
  LL-DASH:             ${base}${publicPath.mpdLowLatency('demo')}
  Live streams (JSON): ${base}/streams
${demoToken ? `  Operator dashboard:  ${base}/  (control API token for this run: ${demoToken})\n` : ''}
Publish your own stream (any name of A-Z a-z 0-9 _ -):
  OBS:     Settings > Stream > Custom, Server rtmp://${host}:${rtmpPort}/${config.rtmp.app}, Stream Key NAME
  ffmpeg:  ffmpeg -re -i INPUT -c:v libx264 -preset veryfast -tune zerolatency -g 60 -c:a aac -f flv rtmp://${host}:${rtmpPort}/${config.rtmp.app}/NAME
  then:    ${base}${publicPath.master('NAME')}

Ctrl-C stops everything.
`);

const shutdown = async (): Promise<void> => {
  if (stopping) {
    process.stdout.write('forced exit\n');
    process.exit(1);
  }
  stopping = true;
  process.stdout.write('\nstopping… (Ctrl-C again to force)\n');
  setTimeout(() => process.exit(1), 15_000).unref();
  await source?.stop();
  await node.stop();
  await redis?.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
