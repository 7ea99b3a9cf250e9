/** Access-control configuration (issue #12): env overrides for secrets, and rules that name the key. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config.js';

describe('auth config', () => {
  it('has everything open by default', () => {
    const c = parseConfig({});
    expect(c.auth.cdn.secrets).toEqual([]);
    expect(c.auth.playback.keys).toEqual([]);
    expect(c.auth.publish.hook).toBeUndefined();
    expect(c.auth.publish.failures).toEqual({ burst: 5, perMinute: 6, maxAddresses: 10_000 });
  });

  it('takes secrets from the environment', () => {
    const c = loadConfig(undefined, {
      WELLSPRING_CDN_SECRET: 'one-cdn-secret-0123456',
      WELLSPRING_PLAYBACK_KEYS: 'k2:second-key-0123456789, k1:first-key-0123456789',
      WELLSPRING_PUBLISH_HOOK_URL: 'http://auth.internal/publish',
    });
    expect(c.auth.cdn.secrets).toEqual(['one-cdn-secret-0123456']);
    expect(c.auth.playback.keys).toEqual([
      { id: 'k2', secret: 'second-key-0123456789' },
      { id: 'k1', secret: 'first-key-0123456789' },
    ]);
    expect(c.auth.publish.hook).toEqual({
      url: 'http://auth.internal/publish',
      timeoutMs: 2000,
      cacheSec: 0,
    });
    expect(
      loadConfig(undefined, { WELLSPRING_CDN_SECRETS: 'a-new-secret-012345,an-old-secret-012345' }).auth.cdn
        .secrets,
    ).toHaveLength(2);
  });

  it('refuses short secrets, a JWT config with both or neither key source, and bad key ids, naming the key', () => {
    const issues = (raw: unknown): string[] => {
      try {
        parseConfig(raw);
        return [];
      } catch (err) {
        return (err as ConfigError).issues;
      }
    };
    expect(issues({ auth: { cdn: { secrets: ['short'] } } })[0]).toMatch(/^auth\.cdn\.secrets\.0: .*16/);
    expect(issues({ auth: { playback: { jwt: {} } } })[0]).toMatch(/^auth\.playback\.jwt: give exactly one/);
    expect(
      issues({ auth: { publish: { jwt: { secret: 'x'.repeat(16), jwksUrl: 'https://idp/jwks.json' } } } })[0],
    ).toMatch(/^auth\.publish\.jwt/);
    expect(issues({ auth: { playback: { keys: [{ id: 'bad id', secret: 'x'.repeat(16) }] } } })[0]).toMatch(
      /^auth\.playback\.keys\.0\.id/,
    );
  });
});
