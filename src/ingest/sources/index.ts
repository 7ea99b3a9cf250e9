/**
 * The source kinds, by config `ingest.type`. A new kind is a folder here with a SourceKind, one entry in this
 * map and one variant of the config's `ingest` union; IngestService needs no change.
 */
import type { SourceKind, SourceKindName } from '../source.js';
import { cmafSource } from './cmaf/index.js';
import { rtmpSource } from './rtmp/index.js';
import { srtSource } from './srt/index.js';
import { watchSource } from './watch/index.js';

export const sourceKinds: { readonly [K in SourceKindName]: SourceKind<K> } = {
  rtmp: rtmpSource,
  srt: srtSource,
  watch: watchSource,
  cmaf: cmafSource,
};
