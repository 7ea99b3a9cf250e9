export * from './names.js';
export * from './cold.js';
