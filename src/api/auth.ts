/**
 * Bearer tokens of the control API (config api.tokens), each with a scope: read (list, events) or admin (also
 * kick, disable, enable). Tokens are compared in constant time over their SHA-256 digests (equal lengths, so
 * neither the content nor the length leaks through timing) and never logged: a refusal names only the reason.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type Scope = 'read' | 'admin';

export interface ApiToken {
  name: string;
  token: string;
  scope: Scope;
}

export type AuthResult =
  { ok: true; name: string; scope: Scope } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class ApiTokens {
  private readonly tokens: Array<{ name: string; scope: Scope; digest: Buffer }>;

  constructor(tokens: ApiToken[]) {
    this.tokens = tokens.map((t) => ({ name: t.name, scope: t.scope, digest: digest(t.token) }));
  }

  get configured(): boolean {
    return this.tokens.length > 0;
  }

  /** Checks a presented token: every configured token is compared (no early exit), in constant time each. */
  check(presented: string | undefined): AuthResult {
    if (presented === undefined || presented === '') return { ok: false, reason: 'missing' };
    if (presented.length > 512) return { ok: false, reason: 'malformed' };
    const d = digest(presented);
    let found: { name: string; scope: Scope } | undefined;
    for (const t of this.tokens) if (timingSafeEqual(d, t.digest) && !found) found = t;
    return found ? { ok: true, name: found.name, scope: found.scope } : { ok: false, reason: 'unknown' };
  }
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 2.1), or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  return m?.[1];
}

/** May a token of scope `have` do what needs `need`? */
export function allows(have: Scope, need: Scope): boolean {
  return have === 'admin' || need === 'read';
}
