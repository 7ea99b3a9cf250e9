// m3u8-parser and mpd-parser ship no type declarations; tests read their output field by field.
declare module 'm3u8-parser' {
  export class Parser {
    push(text: string): void;
    end(): void;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    manifest: any;
  }
}
declare module 'mpd-parser' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  export function parse(text: string, options?: Record<string, unknown>): any;
}
