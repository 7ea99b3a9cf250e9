/**
 * Issue #11: what a cold tier adapter is built from. The `cold` config block (src/config.ts) narrows to one of
 * these per kind; the registry (./registry.ts) maps each kind to its folder's factory.
 */
import type { ColdTier } from '../ports.js';

export interface DiskColdSettings {
  /** Root directory of the tier (created when absent). */
  dir: string;
}

export interface S3ColdSettings {
  /** Endpoint URL (S3-compatible servers); absent: AWS for the region. */
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style addressing (http://host/bucket/key), which most S3-compatible servers need. */
  forcePathStyle: boolean;
  /** Key prefix inside the bucket ("" = none). */
  prefix?: string;
}

/** Settings of one tier, by kind. */
export type ColdTierSettings =
  { type: 'memory' } | ({ type: 'disk' } & DiskColdSettings) | ({ type: 's3' } & S3ColdSettings);

/** Builds a tier of one kind. Lazily imported by the registry, so an unused kind loads nothing (the AWS SDK). */
export type ColdTierFactory<S extends ColdTierSettings = ColdTierSettings> = (
  settings: S,
) => Promise<ColdTier>;
