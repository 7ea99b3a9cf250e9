/**
 * The CDN shared secret (MediaPackage's CDN authorization header, MediaMTX's hlsCDNSecret): when configured, the
 * reader answers only requests carrying the header with one of the configured values (two during a rotation).
 * Compared in constant time; never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface CdnSecretConfig {
  header: string;
  secrets: readonly string[];
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface CdnGate {
  /** True when no secret is configured. */
  readonly open: boolean;
  /** True when the request carries one of the secrets (or none is configured). */
  passes(headers: IncomingHttpHeaders): boolean;
}

export function cdnGate(c: CdnSecretConfig): CdnGate {
  const name = c.header.toLowerCase();
  // Hashing first makes every comparison the same length (timingSafeEqual needs equal lengths).
  const wanted = c.secrets.map(digest);
  return {
    open: wanted.length === 0,
    passes(headers) {
      if (wanted.length === 0) return true;
      const v = headers[name];
      if (typeof v !== 'string') return false;
      const got = digest(v);
      let ok = false;
      for (const w of wanted) ok = timingSafeEqual(got, w) || ok;
      return ok;
    },
  };
}
