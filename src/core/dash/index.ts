export * from './mpd.js';
export * from './xml.js';
