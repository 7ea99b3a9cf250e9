/**
 * Who may use the object API: AWS Signature V4 against the configured access keys, or a container's token for
 * encoders that cannot sign (query `?token=`, `Authorization: Bearer <token>`, or HTTP Basic with the token as
 * the password — ffmpeg's dash muxer and MediaLive's basic PUT send only that).
 *
 * SigV4 is verified by signing the request again with @smithy/signature-v4 (the SDK's own signer) over exactly
 * the headers the client listed in SignedHeaders, then comparing signatures in constant time. The payload hash
 * is the client's `x-amz-content-sha256` when sent; otherwise the SDK hashed a buffered body or sent
 * UNSIGNED-PAYLOAD for a stream: UNSIGNED-PAYLOAD is tried first (a streaming upload is then authenticated before
 * any byte is stored), else the verdict waits for the body's SHA-256. Tokens and signatures are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export type AuthVerdict =
  | { ok: true; who: string }
  | { ok: false; reason: string }
  /** SigV4 over a hashed body: decide once the body's SHA-256 (hex) is known. */
  | { ok: 'body'; decide: (sha256Hex: string) => Promise<AuthVerdict> };

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const SHA_HEADER = 'x-amz-content-sha256';

/** SHA-256 (and HMAC-SHA256 with a secret) as @smithy/signature-v4 takes it, on node:crypto. */
export class Sha256 extends Hash {
  constructor(secret?: Parameters<typeof Hash.prototype.update>[0]) {
    super('sha256', secret as never);
  }
}

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Constant-time membership of a token (compared as SHA-256 digests: equal lengths). */
export function tokenMatches(given: string, tokens: string[]): boolean {
  const g = createHash('sha256').update(given).digest();
  let hit = false;
  for (const t of tokens) if (timingSafeEqual(g, createHash('sha256').update(t).digest())) hit = true;
  return hit;
}

/** The token a request carries, if any (query, Bearer, or Basic password). */
export function requestToken(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const q = query.get('token');
  if (q) return q;
  const a = req.headers.authorization;
  if (!a) return undefined;
  if (/^Bearer /i.test(a)) return a.slice(7).trim();
  if (/^Basic /i.test(a)) {
    const plain = Buffer.from(a.slice(6).trim(), 'base64').toString('utf8');
    const i = plain.indexOf(':');
    return i >= 0 ? plain.slice(i + 1) : undefined;
  }
  return undefined;
}

/** "20261130T040000Z" -> ms, or NaN. */
export function parseAmzDate(s: string | undefined): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

interface ParsedAuth {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export function parseSigV4(header: string): ParsedAuth | undefined {
  const m =
    /^AWS4-HMAC-SHA256\s+Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request\s*,\s*SignedHeaders=([a-z0-9;-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(
      header,
    );
  if (!m) return undefined;
  return {
    accessKeyId: m[1]!,
    date: m[2]!,
    region: m[3]!,
    service: m[4]!,
    signedHeaders: m[5]!.split(';'),
    signature: m[6]!,
  };
}

export interface SigV4Options {
  keys: AccessKey[];
  maxClockSkewMs: number;
  now: number;
}

/** Verifies a SigV4-signed request (the Authorization header must be SigV4). */
export async function verifySigV4(req: IncomingMessage, o: SigV4Options): Promise<AuthVerdict> {
  const p = parseSigV4(req.headers.authorization ?? '');
  if (!p) return { ok: false, reason: 'malformed SigV4 Authorization header' };
  const key = o.keys.find((k) => k.accessKeyId === p.accessKeyId);
  if (!key) return { ok: false, reason: 'unknown access key' };
  const amzDate = req.headers['x-amz-date'];
  const at = parseAmzDate(typeof amzDate === 'string' ? amzDate : undefined);
  if (Number.isNaN(at)) return { ok: false, reason: 'missing or malformed x-amz-date' };
  if (Math.abs(o.now - at) > o.maxClockSkewMs)
    return { ok: false, reason: `request time ${Math.round((at - o.now) / 1000)} s from the server's clock` };
  if (!(amzDate as string).startsWith(p.date))
    return { ok: false, reason: 'credential date is not x-amz-date' };
  if (!p.signedHeaders.includes('host')) return { ok: false, reason: 'host is not a signed header' };

  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const headers: Record<string, string> = {};
  for (const h of p.signedHeaders) {
    const v = req.headers[h];
    if (v === undefined) return { ok: false, reason: `signed header ${h} missing` };
    headers[h] = Array.isArray(v) ? v.join(',') : v;
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    region: p.region,
    service: p.service,
    sha256: Sha256,
    uriEscapePath: true,
  });
  const given = req.headers[SHA_HEADER];
  const check = async (payloadHash: string): Promise<boolean> => {
    const signed = await signer.sign(
      {
        method: req.method ?? 'GET',
        protocol: 'http:',
        hostname: headers.host ?? '',
        path,
        query,
        // The payload hash travels in this header; it is signed only if the client signed it.
        headers: { ...headers, [SHA_HEADER]: payloadHash },
      },
      {
        signingDate: new Date(at),
        signingRegion: p.region,
        signingService: p.service,
        signableHeaders: new Set(p.signedHeaders),
        unsignableHeaders: p.signedHeaders.includes(SHA_HEADER) ? undefined : new Set([SHA_HEADER]),
      },
    );
    const auth = String((signed.headers as Record<string, string>).authorization ?? '');
    const sig = /Signature=([0-9a-f]{64})$/.exec(auth)?.[1] ?? '';
    return equalHex(sig, p.signature);
  };
  const who = `key:${key.accessKeyId}`;
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (typeof given === 'string') {
    if (!(await check(given))) return { ok: false, reason: 'signature does not match' };
    if (given === UNSIGNED || given.startsWith('STREAMING-')) return { ok: true, who };
    if (!hasBody)
      return given === EMPTY_SHA256
        ? { ok: true, who }
        : { ok: false, reason: 'x-amz-content-sha256 is not the body' };
    return {
      ok: 'body',
      decide: async (sha) =>
        equalHex(sha, given)
          ? { ok: true, who }
          : { ok: false, reason: 'x-amz-content-sha256 is not the body' },
    };
  }
  if (!hasBody)
    return (await check(EMPTY_SHA256))
      ? { ok: true, who }
      : { ok: false, reason: 'signature does not match' };
  if (await check(UNSIGNED)) return { ok: true, who };
  return {
    ok: 'body',
    decide: async (sha) =>
      (await check(sha)) ? { ok: true, who } : { ok: false, reason: 'signature does not match' },
  };
}
