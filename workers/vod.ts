/**
 * Packages a media file into a VOD asset in the cold tier (issue #11):
 *   npm run vod -- FILE NAME [--stream S] [--passthrough | --auto] [--cold-dir DIR]
 * FILE: MP4, MOV or MKV. NAME: the asset ([A-Za-z0-9_-]{1,64}), served at /vod/NAME/master.m3u8 and
 * /vod/NAME/manifest.mpd. The ladder, segment duration and frame rate are the stream S's (default: the config's
 * defaults); --passthrough copies the source video (H.264 only), --auto does so when the source is H.264.
 * The cold tier is the config's `cold` block; without one, a disk tier in --cold-dir (default ./cold, the demo's).
 * Shows a progress bar (percent, speed, time left) on stderr; exits 0 with the asset's URLs, 1 on a bad input.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, loadConfig, streamSettings } from '../src/config.js';
import { isSafeName, SAFE_NAME_RULE } from '../src/core/names/names.js';
import { createLogger } from '../src/log.js';
import { openColdTier } from '../src/store/cold/registry.js';
import type { ColdTierSettings } from '../src/store/cold/types.js';
import { VodAssets } from '../src/vod/assets.js';
import { type VideoMode, packageFile } from '../src/vod/package.js';
import { progressLine } from '../src/vod/progress-bar.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    stream: { type: 'string' },
    passthrough: { type: 'boolean', default: false },
    auto: { type: 'boolean', default: false },
    'cold-dir': { type: 'string', default: 'cold' },
  },
});

function fail(message: string, code = 2): never {
  process.stderr.write(`vod: ${message}\n`);
  process.exit(code);
}

/** The config's cold tier, or a disk tier in dir when the config names none. */
export function coldSettings(config: Config, dir: string): ColdTierSettings {
  const c = (config as { cold?: ColdTierSettings | { type: 'none' } }).cold;
  if (c && c.type !== 'none') return c;
  return { type: 'disk', dir: resolve(dir) };
}

const [file, name] = positionals;
if (!file || !name) fail('usage: npm run vod -- FILE NAME [--stream S] [--passthrough | --auto]');
if (!isSafeName(name)) fail(`asset name ${JSON.stringify(name)} ${SAFE_NAME_RULE}`);
const config = loadConfig(process.env.WELLSPRING_CONFIG, process.env);
const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'vod');
const streamName = values.stream;
const streamConfig = streamName ? config.streams.find((s) => s.name === streamName) : undefined;
if (streamName && !streamConfig) fail(`no stream ${streamName} in the config`);
const settings = streamSettings(config, streamName ?? 'vod', streamConfig);
const mode: VideoMode = values.passthrough ? 'passthrough' : values.auto ? 'auto' : 'ladder';
const cold = await openColdTier(coldSettings(config, values['cold-dir']!));
const assets = new VodAssets(cold);
const tty = process.stderr.isTTY;
let lastDecile = -1;
try {
  const r = await packageFile({
    file,
    name,
    assets,
    settings: { ...settings, mode, decoderThreads: config.decoderThreads },
    ffmpegPath: config.ffmpegPath,
    log,
    onProgress: (p) => {
      const line = progressLine(p, tty ? (process.stderr.columns ?? 80) : 80);
      if (tty) process.stderr.write(`\r${line}`);
      else if (Math.floor(p.fraction * 10) !== lastDecile) process.stderr.write(`${line}\n`);
      lastDecile = Math.floor(p.fraction * 10);
    },
  });
  if (tty) process.stderr.write('\n');
  process.stdout.write(
    `${JSON.stringify(
      {
        asset: name,
        durationSec: Number(r.durationSec.toFixed(3)),
        wallSec: Number(r.wallSec.toFixed(3)),
        speedX: Number(r.speedX.toFixed(2)),
        bytes: r.bytes,
        passthrough: r.passthrough,
        renditions: r.asset.renditions.map((x) => x.description.name),
        hls: `/vod/${name}/master.m3u8`,
        dash: `/vod/${name}/manifest.mpd`,
      },
      null,
      2,
    )}\n`,
  );
  await cold.close();
} catch (err) {
  if (tty) process.stderr.write('\n');
  await cold.close().catch(() => undefined);
  fail((err as Error).message, 1);
}
