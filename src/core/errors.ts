/** Base of every Wellspring error: a stable machine-readable code beside the message. */
export class WellspringError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Why a box could not be parsed. Stable values: logs and tests match on them. */
export type BoxParseReason =
  | 'truncated'
  | 'size-too-small'
  | 'size-past-end'
  | 'size-too-large'
  | 'largesize-overflow'
  | 'unsupported-version'
  | 'missing-box'
  | 'invalid-field'
  | 'unexpected-box';

/** Malformed ISO-BMFF input: names the box type and the absolute byte offset of the box in the stream. */
export class BoxParseError extends WellspringError {
  constructor(
    readonly reason: BoxParseReason,
    readonly boxType: string,
    readonly offset: number,
    detail: string,
  ) {
    super('BOX_PARSE', `${boxType} box at byte ${offset}: ${detail}`);
  }
}

/** A timeline input that breaks its rules (time going backwards inside a period, zero duration, ...). */
export class TimelineError extends WellspringError {
  constructor(message: string) {
    super('TIMELINE', message);
  }
}
