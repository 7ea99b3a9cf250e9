/** The `npm run vod` progress bar as a pure function of the progress: bar, percent, speed, time left. */
import type { PackageProgress } from './package.js';

function clock(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec)) return '--:--';
  const s = Math.round(sec);
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`
    : `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** One line, at most `width` characters: "[#####.....]  42%  3.1x  left 00:12". */
export function progressLine(p: PackageProgress, width = 80): string {
  const pct = Math.floor(p.fraction * 100);
  const tail = ` ${String(pct).padStart(3)}%  ${p.speed.toFixed(1)}x  left ${clock(p.etaSec)}`;
  const barWidth = Math.max(10, Math.min(50, width - tail.length - 2));
  const filled = Math.round(p.fraction * barWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
}
