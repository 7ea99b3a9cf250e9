export * from './dash/index.js';
export * from './errors.js';
export * from './format.js';
export * from './hls/index.js';
export * from './isobmff/index.js';
export * from './manifest/index.js';
export * from './timeline/index.js';

export * from './names/index.js';
