/**
 * What ffmpeg says about its input on stderr (run with `-loglevel level+info`): each line carries its level,
 * and after probing the input it prints the input's streams at info level, e.g.
 *
 *   [info]   Stream #0:0[0x100]: Video: h264 (Main) (...), yuv420p(progressive), 320x180, Closed Captions, 30 fps
 *   [info]   Stream #0:1[0x101](eng): Audio: aac (LC) (...), 48000 Hz, stereo, fltp
 *
 * "(eng)" is the stream's language tag; "Closed Captions" is printed when the decoder found CEA-608/708 data
 * (ATSC A/53 SEI) in the pictures it decoded while probing (libavcodec FF_CODEC_PROPERTY_CLOSED_CAPTIONS).
 */

/** One stream of one input, as ffmpeg described it. */
export interface SourceStream {
  input: number;
  index: number;
  kind: 'video' | 'audio' | 'subtitle' | 'data' | 'other';
  /** ISO 639-2 language tag, when the source has one (and it is not "und"). */
  language?: string;
  /** Video: the decoder found CEA-608/708 captions while probing. */
  closedCaptions: boolean;
}

/** Every input's streams, in ffmpeg's order: the i-th audio stream of input 0 is `0:a:i`. */
export interface SourceDescription {
  streams: SourceStream[];
}

export type FfmpegLogLevel = 'panic' | 'fatal' | 'error' | 'warning' | 'info' | 'verbose' | 'debug' | 'trace';

const LEVELS = new Set<string>(['panic', 'fatal', 'error', 'warning', 'info', 'verbose', 'debug', 'trace']);

/**
 * Splits a `-loglevel level+...` line into its level and text (the context prefix, e.g. "[libx264 @ 0x..]",
 * stays in the text). A line without a level tag (a continuation) is returned as undefined level.
 */
export function splitLogLine(line: string): { level: FfmpegLogLevel | undefined; text: string } {
  const m = /^((?:\[[^\]]* @ 0x[0-9a-f]+\] )?)\[([a-z]+)\] ?(.*)$/.exec(line);
  if (!m || !LEVELS.has(m[2]!)) return { level: undefined, text: line };
  return { level: m[2] as FfmpegLogLevel, text: `${m[1]}${m[3]}` };
}

const STREAM =
  /^\s*Stream #(\d+):(\d+)(?:\[[^\]]*\])?(?:\(([A-Za-z]{2,3})\))?: (Video|Audio|Subtitle|Data|[A-Za-z]+): (.*)$/;

/**
 * Reads info-level lines; once the input dump is complete (ffmpeg moves on to "Stream mapping:" or an
 * "Output #" section), returns the description once. Lines that are not part of the dump are ignored.
 */
export class InputDumpParser {
  private streams: SourceStream[] = [];
  private inInput = false;
  private done = false;

  /** Feeds one line's text (level already removed). Returns the description when the dump just ended. */
  push(text: string): SourceDescription | undefined {
    if (this.done) return undefined;
    if (/^Input #\d+/.test(text)) {
      this.inInput = true;
      return undefined;
    }
    if (!this.inInput) return undefined;
    if (/^(Stream mapping:|Output #\d+)/.test(text)) {
      this.done = true;
      return { streams: this.streams };
    }
    const m = STREAM.exec(text);
    if (!m) return undefined;
    const kind = m[4]!.toLowerCase();
    const lang = m[3]?.toLowerCase();
    this.streams.push({
      input: Number(m[1]),
      index: Number(m[2]),
      kind: kind === 'video' || kind === 'audio' || kind === 'subtitle' || kind === 'data' ? kind : 'other',
      language: lang && lang !== 'und' ? lang : undefined,
      closedCaptions: kind === 'video' && /(^|, )Closed Captions(,|$)/.test(m[5]!),
    });
    return undefined;
  }

  /**
   * A warning or error came while the input's streams were being listed, or stderr ended (ffmpeg stopped before
   * its output section, e.g. on a -map that matches no stream): what was listed, once.
   */
  finish(): SourceDescription | undefined {
    if (this.done || !this.inInput || this.streams.length === 0) return undefined;
    this.done = true;
    return { streams: this.streams };
  }
}

/** The source's audio streams of one input, in `-map N:a:i` order. */
export function audioStreams(d: SourceDescription, input = 0): SourceStream[] {
  return d.streams.filter((s) => s.input === input && s.kind === 'audio');
}

/** Whether the input's first video stream carries CEA-608/708 captions. */
export function hasClosedCaptions(d: SourceDescription, input = 0): boolean {
  return d.streams.find((s) => s.input === input && s.kind === 'video')?.closedCaptions ?? false;
}
