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
