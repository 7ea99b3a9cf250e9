export * from './media.js';
export * from './multivariant.js';
export * from './tags.js';
export * from './dvr.js';
