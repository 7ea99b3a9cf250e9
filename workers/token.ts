/**
 * Prints a signed playback URL (issue #12):
 *   npm run token -- --stream NAME [--ttl 3600] [--ip ADDR] [--kid ID] [--base http://cdn:8000] [--file master.m3u8]
 * Signs with the first key of auth.playback.keys (WELLSPRING_CONFIG / WELLSPRING_PLAYBACK_KEYS), or --kid's;
 * the same pure function the reader verifies with (src/auth/playback/token.ts).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { signPlayback } from '../src/auth/playback/token.js';

const { values } = parseArgs({
  options: {
    stream: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    ip: { type: 'string' },
    kid: { type: 'string' },
    base: { type: 'string', default: 'http://localhost:8000' },
    file: { type: 'string', default: 'master.m3u8' },
  },
});

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

if (!values.stream) fail('--stream NAME is required');
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');
const config = loadConfig(process.env.WELLSPRING_CONFIG, process.env);
const keys = config.auth.playback.keys;
if (keys.length === 0) fail('no auth.playback.keys in the config (or WELLSPRING_PLAYBACK_KEYS=id:secret)');
const key = values.kid ? keys.find((k) => k.id === values.kid) : keys[0];
if (!key) fail(`no playback key with id ${values.kid}`);
const token = signPlayback({
  stream: values.stream,
  expSec: Math.floor(Date.now() / 1000) + ttl,
  key,
  ...(values.ip ? { addr: values.ip } : {}),
});
process.stdout.write(`${values.base.replace(/\/$/, '')}/s/${token}/live/${values.stream}/${values.file}\n`);
