export * from './box.js';
export * from './fragment.js';
export * from './init.js';
export * from './reader.js';
