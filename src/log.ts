import pino, { type Logger } from 'pino';

export type { Logger };

/** The one root logger; components take child({ component, stream, rendition }). JSON lines on stdout. */
export function createLogger(level = 'info', name = 'wellspring'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
