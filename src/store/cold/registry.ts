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

/** Builds the tier the settings name. */
export async function openColdTier(settings: ColdTierSettings): Promise<ColdTier> {
  const make = factories[settings.type] as (s: ColdTierSettings) => Promise<ColdTier>;
  return make(settings);
}
