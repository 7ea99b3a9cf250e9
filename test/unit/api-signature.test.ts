/** Webhook signatures: HMAC-SHA256 over "<t>.<body>", verified in constant time with a timestamp tolerance. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../src/api/signature.js';

const SECRET = 'webhook-secret-0123456789';
const BODY = '{"id":"1700000000000-0","type":"stream.live","stream":"cam","at":1700000000000}';

describe('webhook signature', () => {
  it('is t=<unix s>,sha256=<hex HMAC of "t.body">, as any receiver can recompute it', () => {
    const h = sign(SECRET, BODY, 1_700_000_000);
    const mac = createHmac('sha256', SECRET).update(`1700000000.${BODY}`).digest('hex');
    expect(h).toBe(`t=1700000000,sha256=${mac}`);
  });

  it('verifies its own signature and refuses a changed body, secret, timestamp or an old one', () => {
    const h = sign(SECRET, BODY, 1_700_000_000);
    expect(verify(SECRET, BODY, h, 1_700_000_010)).toBe(true);
    expect(verify(SECRET, BODY.replace('cam', 'cab'), h, 1_700_000_010)).toBe(false);
    expect(verify('another-secret-0123456789', BODY, h, 1_700_000_010)).toBe(false);
    expect(verify(SECRET, BODY, h.replace('t=1700000000', 't=1700000001'), 1_700_000_010)).toBe(false);
    expect(verify(SECRET, BODY, h, 1_700_000_000 + 301)).toBe(false);
    expect(verify(SECRET, BODY, undefined, 1_700_000_000)).toBe(false);
    expect(verify(SECRET, BODY, 'sha256=abc', 1_700_000_000)).toBe(false);
  });
});
