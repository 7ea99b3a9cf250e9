export * from './timeline.js';
export * from './types.js';
export * from './bitrate.js';
export * from './ttl.js';
export * from './retention.js';
export * from './numbering.js';
export * from './anchor.js';
