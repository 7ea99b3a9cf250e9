export * from './mpd.js';
export * from './xml.js';
export * from './dvr.js';
