/**
 * Webhook signatures: `X-Wellspring-Signature: t=<unix s>,sha256=<hex>` where the HMAC-SHA256 (key: the
 * webhook's secret) is over `<t>.<body>`, as Stripe's scheme: the timestamp is signed with the body, so a
 * receiver can refuse old replays. A receiver recomputes it and compares in constant time (verify below).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Wellspring-Signature';

export function sign(secret: string, body: string, unixSec: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSec}.${body}`, 'utf8').digest('hex');
  return `t=${unixSec},sha256=${mac}`;
}

/**
 * Checks a signature header against the body: true when the HMAC matches and the timestamp is within
 * `toleranceSec` of `nowSec`.
 */
export function verify(
  secret: string,
  body: string,
  header: string | undefined,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const m = /^t=(\d{1,12}),sha256=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSec - t) > toleranceSec) return false;
  const expected = Buffer.from(sign(secret, body, t).slice(-64), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}
