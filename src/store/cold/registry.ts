/**
 * Issue #11: cold tier kinds, each a folder of its own (memory/, disk/, s3/) behind one factory. A new kind is a
 * new folder and one line here, never a branch elsewhere. Factories are imported when used: a deployment without
 * S3 never loads the AWS SDK.
 */
import type { ColdTier } from '../ports.js';
import type { ColdTierSettings } from './types.js';

type Factories = {
  [K in ColdTierSettings['type']]: (s: Extract<ColdTierSettings, { type: K }>) => Promise<ColdTier>;
};

const factories: Factories = {
  memory: async () => new (await import('./memory/index.js')).MemoryColdTier(),
  disk: async (s) => (await import('./disk/index.js')).openDiskColdTier(s),
  s3: async (s) => (await import('./s3/index.js')).openS3ColdTier(s),
};

/** The kinds a config may name. */
export const COLD_TIER_KINDS = Object.keys(factories) as Array<ColdTierSettings['type']>;

/** The `cold` config block's shape as far as opening a tier goes (s3 settings nested under `s3`). */
export interface ColdTierConfig {
  type: ColdTierSettings['type'] | 'none';
  dir?: string;
  s3?: Partial<Omit<Extract<ColdTierSettings, { type: 's3' }>, 'type'>>;
}

/** The settings of the tier a `cold` config block names, or undefined for type none. */
export function coldTierSettings(c: ColdTierConfig | ColdTierSettings): ColdTierSettings | undefined {
  if (c.type === 'none') return undefined;
  if (c.type === 's3' && 's3' in c && c.s3 && typeof c.s3 === 'object' && !('bucket' in c && c.bucket)) {
    const s = c.s3;
    if (!s.bucket) throw new Error('cold.type s3 needs cold.s3.bucket');
    return { type: 's3', region: 'us-east-1', forcePathStyle: true, ...s, bucket: s.bucket };
  }
  if (c.type === 'disk') return { type: 'disk', dir: c.dir ?? '.wellspring-cold' };
  return c as ColdTierSettings;
}

/** Builds the tier the settings (or a `cold` config block) name. */
export async function openColdTier(config: ColdTierSettings | ColdTierConfig): Promise<ColdTier> {
  const settings = coldTierSettings(config);
  if (!settings) throw new Error('no cold tier configured (cold.type none)');
  const make = factories[settings.type] as (s: ColdTierSettings) => Promise<ColdTier>;
  return make(settings);
}
