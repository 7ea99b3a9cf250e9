/**
 * Number and date formatting for manifests, in one place. Media times stay integers in their timescale until
 * here; decimal strings are computed with integer arithmetic so no float drift reaches a manifest.
 */

/** ticks/timescale as a decimal string with exactly `digits` fraction digits, rounded half up. */
export function formatTicks(ticks: number, timescale: number, digits: number): string {
  const scale = 10 ** digits;
  let units: bigint | number;
  if (Math.abs(ticks) * scale < Number.MAX_SAFE_INTEGER) {
    units = Math.floor((ticks * scale * 2 + timescale) / (2 * timescale));
  } else {
    const n = BigInt(ticks) * BigInt(scale) * 2n + BigInt(timescale);
    units = n / (2n * BigInt(timescale));
  }
  const neg = units < 0;
  const s = (neg ? -units : units).toString().padStart(digits + 1, '0');
  const body = digits === 0 ? s : `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  return neg ? `-${body}` : body;
}

/** Milliseconds as an ISO 8601 duration for DASH (PT1.234S), exact to the millisecond. */
export function isoDurationMs(ms: number): string {
  return `PT${formatTicks(Math.round(ms), 1000, 3)}S`;
}

/** Ticks as an ISO 8601 duration, exact to the millisecond. */
export function isoDurationTicks(ticks: number, timescale: number): string {
  return `PT${formatTicks(ticks, timescale, 3)}S`;
}

/** Unix milliseconds as an ISO 8601 date-time with milliseconds and Z (PROGRAM-DATE-TIME, MPD dates). */
export function isoDateTime(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

/** Integer ticks rounded to the nearest whole second, half up (RFC 8216 4.3.3.1 target duration rule). */
export function roundSeconds(ticks: number, timescale: number): number {
  return Math.floor((2 * ticks + timescale) / (2 * timescale));
}

/** Bits per second for bytes over ticks, rounded up so a declared BANDWIDTH is never below the measured one. */
export function bitsPerSecond(bytes: number, ticks: number, timescale: number): number {
  if (ticks <= 0) return 0;
  return Math.ceil((bytes * 8 * timescale) / ticks);
}
