import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { track } from '../../src/adapters/process/children.js';
import { freePort, waitForListen } from './net.js';

/** s3rver's default credentials: it checks SigV4 signatures made with them. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A real S3-API server (s3rver, an npm devDependency: Koa over a directory) in a child process on a loopback
 * port, path-style, with one bucket. Its data directory survives stop()/start(), so a test can take the server
 * away mid-stream and bring it back on the same port with the objects it held.
 */
export interface S3Server {
  endpoint: string;
  port: number;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The child's pid while running, -1 when stopped. */
  pid(): number;
  /** Ends the server (SIGKILL: an outage, not a goodbye); the data stays for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (after stop()). */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  close(): Promise<void>;
  output(): string;
}

/** The S3 cold-tier settings that reach this server (path-style, its bucket and keys). */
export function s3ColdSettings(s3: S3Server): {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
} {
  const { endpoint, bucket, region, accessKeyId, secretAccessKey } = s3;
  return { endpoint, bucket, region, accessKeyId, secretAccessKey, forcePathStyle: true };
}

function s3rverBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}

/** Starts s3rver on a free (or the given) port with `bucket` created, and waits until it accepts connections. */
export async function startS3Server(
  o: { port?: number; bucket?: string; dir?: string } = {},
): Promise<S3Server> {
  const port = o.port ?? (await freePort());
  const bucket = o.bucket ?? 'wellspring-cold';
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'wellspring-s3-'));
  const bin = s3rverBin();
  let child: ChildProcess | undefined;
  let output = '';

  const spawnOnce = async (): Promise<void> => {
    const c = spawn(
      process.execPath,
      // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider:
      // without it every truncated listing answers 500 (ERR_OSSL_EVP_UNSUPPORTED).
      [
        '--openssl-legacy-provider',
        bin,
        '-d',
        dir,
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '--no-vhost-buckets',
        '--configure-bucket',
        bucket,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    track(c);
    child = c;
    // s3rver logs every request at info level; keep only the tail for error messages.
    const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-8192));
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    let exited: Error | undefined;
    c.once('error', (err) => (exited = new Error(`s3rver could not start: ${err.message}`)));
    const onExit = (code: number | null): void =>
      void (exited ??= new Error(`s3rver :${port} exited with ${code}: ${output.trim()}`));
    c.once('exit', onExit);
    try {
      await waitForListen(port, 15_000, () => output.trim()).catch((err: Error) => {
        throw exited ?? err;
      });
      if (exited) throw exited;
    } catch (err) {
      await kill();
      throw err;
    }
    c.off('exit', onExit);
  };

  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  try {
    await spawnOnce();
  } catch (err) {
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    region: 'us-east-1',
    ...S3_TEST_CREDENTIALS,
    pid: () => child?.pid ?? -1,
    stop: kill,
    async start() {
      if (child) return;
      await spawnOnce();
    },
    async close() {
      await kill();
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
    output: () => output.trim(),
  };
}
