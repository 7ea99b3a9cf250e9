export * from './set.js';
