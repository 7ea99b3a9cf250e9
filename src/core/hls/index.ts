export * from './media.js';
export * from './multivariant.js';
export * from './tags.js';
