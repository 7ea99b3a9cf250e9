/**
 * Per-container rules of the object API, pure: lifecycle (MediaStore's transient `seconds_since_create` and
 * delete-after-days rules, first match wins, mapped to the object's TTL in the hot tier) and CORS.
 */

export interface LifecycleRule {
  prefix?: string;
  wildcard?: string;
  secondsSinceCreate?: number;
  days?: number;
}

export interface CorsRule {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number;
}

/** `*` matches within a folder name, `**` across folders; everything else literally. */
export function wildcardToRegExp(w: string): RegExp {
  let re = '';
  for (let i = 0; i < w.length; i++) {
    const c = w[i]!;
    if (c === '*' && w[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The TTL (s) of an object at `rest` (its path inside the container), and which rule set it. */
export function objectTtl(
  rules: LifecycleRule[],
  rest: string,
  defaultTtlSec: number,
): { ttlSec: number; rule: number | 'default' } {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    const hit =
      r.prefix !== undefined ? rest.startsWith(r.prefix) : wildcardToRegExp(r.wildcard ?? '').test(rest);
    if (!hit) continue;
    if (r.secondsSinceCreate !== undefined) return { ttlSec: r.secondsSinceCreate, rule: i };
    if (r.days !== undefined) return { ttlSec: r.days * 86_400, rule: i };
  }
  return { ttlSec: defaultTtlSec, rule: 'default' };
}

const matches = (pattern: string, value: string): boolean =>
  pattern === '*' || wildcardToRegExp(pattern.toLowerCase()).test(value.toLowerCase());

/** The CORS headers for a request from `origin` (none when no rule allows it). */
export function corsHeaders(
  rules: CorsRule[],
  origin: string | undefined,
  method: string,
  requestHeaders: string[] = [],
): Record<string, string> | undefined {
  if (!origin) return undefined;
  for (const r of rules) {
    if (!r.allowedOrigins.some((o) => matches(o, origin))) continue;
    if (!r.allowedMethods.includes(method)) continue;
    if (!requestHeaders.every((h) => r.allowedHeaders.some((a) => matches(a, h)))) continue;
    const h: Record<string, string> = {
      'Access-Control-Allow-Origin': r.allowedOrigins.includes('*') ? '*' : origin,
      'Access-Control-Allow-Methods': r.allowedMethods.join(', '),
      'Access-Control-Max-Age': String(r.maxAgeSeconds),
      Vary: 'Origin',
    };
    if (requestHeaders.length) h['Access-Control-Allow-Headers'] = requestHeaders.join(', ');
    if (r.exposeHeaders.length) h['Access-Control-Expose-Headers'] = r.exposeHeaders.join(', ');
    return h;
  }
  return undefined;
}

function ipv4(a: string): number | undefined {
  const m = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(a);
  if (!m) return undefined;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return undefined;
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** Whether `addr` (a socket's remote address) is one of `allowed` (IPv4 CIDRs or exact addresses). */
export function sourceAllowed(allowed: string[], addr: string | undefined): boolean {
  if (!addr) return false;
  const a4 = ipv4(addr);
  for (const rule of allowed) {
    const [net, bitsS] = rule.split('/');
    const n4 = ipv4(net!);
    if (n4 === undefined || a4 === undefined) {
      if (rule.toLowerCase() === addr.toLowerCase()) return true;
      continue;
    }
    const bits = bitsS === undefined ? 32 : Number(bitsS);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((a4 & mask) >>> 0 === (n4 & mask) >>> 0) return true;
  }
  return false;
}
