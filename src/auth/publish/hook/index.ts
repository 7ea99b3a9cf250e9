/**
 * The HTTP auth hook (nginx-rtmp's on_publish, MediaMTX's authHTTPAddress): POSTs
 * `{ action: "publish", protocol, stream, key, remoteAddr, query }` as JSON; a 2xx allows, anything else refuses,
 * and a hook that does not answer within timeoutMs (or cannot be reached) refuses: it fails closed. An allow may
 * be remembered for cacheSec per (protocol, stream, key, address).
 */
import { createHash } from 'node:crypto';
import type { StreamConfig } from '../../../config.js';
import type { Logger } from '../../../log.js';
import type { PublishCheck, PublishVerdict } from '../types.js';

export interface HookConfig {
  url: string;
  timeoutMs: number;
  cacheSec: number;
}

export function publishHook(
  c: HookConfig,
  o: { log: Logger; streams: readonly StreamConfig[]; now?: () => number },
): PublishCheck {
  const now = o.now ?? Date.now;
  const allowed = new Map<string, number>();
  const log = o.log.child({ component: 'publish-hook' });
  return {
    name: 'hook',
    async check(r): Promise<PublishVerdict> {
      const cacheKey = createHash('sha256')
        .update(JSON.stringify([r.protocol, r.stream, r.key, r.remoteAddr ?? '']))
        .digest('base64');
      const until = allowed.get(cacheKey);
      const config = o.streams.find((s) => s.name === r.stream);
      if (until !== undefined && until > now()) return { ok: true, stream: r.stream, config, by: 'hook' };
      let status: number;
      try {
        const res = await fetch(c.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            action: 'publish',
            protocol: r.protocol,
            stream: r.stream,
            key: r.key,
            remoteAddr: r.remoteAddr ?? null,
            query: r.query ?? {},
          }),
          signal: AbortSignal.timeout(c.timeoutMs),
          redirect: 'error',
        });
        status = res.status;
        await res.body?.cancel();
      } catch (err) {
        // Fail closed: no answer is a refusal. The URL is config (no secret in it by our docs); the key is not logged.
        log.error(
          { stream: r.stream, protocol: r.protocol, hook: new URL(c.url).origin, error: (err as Error).name },
          'publish hook unreachable or too slow: publish refused (fail closed)',
        );
        return { ok: false, reason: 'unauthorized', message: 'publish hook unavailable' };
      }
      if (status >= 200 && status < 300) {
        if (c.cacheSec > 0) {
          allowed.set(cacheKey, now() + c.cacheSec * 1000);
          if (allowed.size > 10_000) allowed.delete(allowed.keys().next().value!);
        }
        return { ok: true, stream: r.stream, config, by: 'hook' };
      }
      return { ok: false, reason: 'unauthorized', message: `refused by the publish hook (${status})` };
    },
  };
}
