/**
 * Who may publish (issue #12): one authorizer for every ingest kind (RTMP, SRT, the HTTP ingest paths), composed
 * from kinds in the order keys (the config's per-stream keys), JWT (a publish token given as the key), hook (the
 * HTTP auth hook), open mode. The first allow wins; a refusal from the hook is final. Refusals from one address
 * are counted by a token bucket (limiter.ts): an address out of tokens is refused before anything is checked.
 *
 * Open mode (no streams, no hook, no JWT) lets any safely named stream publish: the demo; it is logged loudly.
 */
import type { Config, StreamConfig } from '../../config.js';
import { isSafeName, SAFE_NAME_RULE } from '../../core/index.js';
import type { Logger } from '../../log.js';
import { createJwtVerifier, looksLikeJwt } from '../jwt/index.js';
import { publishHook } from './hook/index.js';
import { configKeys } from './keys/index.js';
import { FailureLimiter } from './limiter.js';
import type { PublishCheck, PublishRequest, PublishVerdict } from './types.js';

export type { PublishRequest, PublishVerdict } from './types.js';

export interface PublishAuthorizer {
  /** No streams, no hook, no JWT: any safe name may publish. */
  readonly open: boolean;
  authorize(r: PublishRequest): Promise<PublishVerdict>;
}

function jwtCheck(
  c: NonNullable<Config['auth']['publish']['jwt']>,
  streams: readonly StreamConfig[],
): PublishCheck {
  const v = createJwtVerifier(c);
  return {
    name: 'jwt',
    async check(r) {
      if (!looksLikeJwt(r.key)) return undefined;
      const res = await v.verify(r.key, { stream: r.stream, action: 'publish' });
      if (!res.ok)
        return {
          ok: false,
          reason: 'unauthorized',
          message:
            res.reason === 'expired' ? 'publish token expired' : 'publish token not valid for this stream',
        };
      return { ok: true, stream: r.stream, config: streams.find((s) => s.name === r.stream), by: 'jwt' };
    },
  };
}

export function createPublishAuthorizer(
  config: Pick<Config, 'streams' | 'auth'>,
  o: { log: Logger; now?: () => number },
): PublishAuthorizer {
  const p = config.auth.publish;
  const checks: PublishCheck[] = [configKeys(config.streams)];
  if (p.jwt) checks.push(jwtCheck(p.jwt, config.streams));
  if (p.hook)
    checks.push(
      publishHook(p.hook, { log: o.log, streams: config.streams, ...(o.now ? { now: o.now } : {}) }),
    );
  const open = config.streams.length === 0 && !p.jwt && !p.hook;
  const limiter = new FailureLimiter({ ...p.failures, ...(o.now ? { now: o.now } : {}) });
  const log = o.log.child({ component: 'publish-auth' });
  if (open)
    log.warn(
      {},
      'OPEN MODE: no streams, publish hook or JWT configured: anyone who can reach the ingest may publish any stream name',
    );
  return {
    open,
    async authorize(r) {
      const refuse = (v: Extract<PublishVerdict, { ok: false }>): PublishVerdict => {
        limiter.failed(r.remoteAddr);
        log.warn(
          { stream: r.stream, protocol: r.protocol, remoteAddr: r.remoteAddr, why: v.message },
          'publish refused',
        );
        return v;
      };
      if (!limiter.allows(r.remoteAddr)) {
        log.warn(
          { stream: r.stream, protocol: r.protocol, remoteAddr: r.remoteAddr },
          'publish refused: too many failures from this address',
        );
        return { ok: false, reason: 'unauthorized', message: 'too many refused publishes from this address' };
      }
      if (!isSafeName(r.stream))
        return refuse(
          open
            ? { ok: false, reason: 'bad-name', message: `stream name ${SAFE_NAME_RULE}` }
            : { ok: false, reason: 'unauthorized', message: 'unknown stream key' },
        );
      if (open) return { ok: true, stream: r.stream, config: undefined, by: 'open' };
      for (const c of checks) {
        const v = await c.check(r);
        if (v?.ok) return v;
        if (v) return refuse(v);
      }
      return refuse({ ok: false, reason: 'unauthorized', message: 'unknown stream key' });
    },
  };
}
