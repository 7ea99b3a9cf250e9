/** Publish keys from the config (the behaviour before issue #12): the stream configured for this kind and key. */
import { timingSafeEqual } from 'node:crypto';
import type { StreamConfig } from '../../../config.js';
import type { PublishCheck } from '../types.js';

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function configKeys(streams: readonly StreamConfig[]): PublishCheck {
  return {
    name: 'keys',
    async check(r) {
      const cfg = streams.find(
        (s) =>
          s.ingest.type === r.protocol && s.name === r.stream && s.key !== undefined && same(s.key, r.key),
      );
      return cfg ? { ok: true, stream: r.stream, config: cfg, by: 'keys' } : undefined;
    },
  };
}
