import { invalidArgument } from './errors.js';

/**
 * Durations as operators type them (`--ttl 1h`, `--retention 10m:7d`): one or more
 * `<integer><unit>` terms, summed ("1h30m"). Units are lowercase only, so `m` is never
 * mistaken for months; `y` is 365 days and `w` 7 days (fixed lengths, no calendar).
 */
export const DURATION_UNITS_MS = Object.freeze({
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
  w: 7 * 24 * 60 * 60 * 1000,
  y: 365 * 24 * 60 * 60 * 1000,
});

export type DurationUnit = keyof typeof DURATION_UNITS_MS;

const TERM = /(\d{1,12})([smhdwy])/y;

/** Milliseconds of a duration text; INVALID_ARGUMENT with a one-line message otherwise. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string' || text.length === 0) throw invalidArgument('duration is empty (use e.g. 30s, 10m, 24h, 7d)');
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < text.length) {
    const at = TERM.lastIndex;
    const m = TERM.exec(text);
    if (m === null) {
      throw invalidArgument(
        `bad duration "${text.slice(0, 40)}" at "${text.slice(at, at + 10)}": expected <integer><unit>, units s m h d w y`,
      );
    }
    total += Number(m[1]) * DURATION_UNITS_MS[m[2] as DurationUnit];
  }
  if (!Number.isSafeInteger(total)) throw invalidArgument(`duration "${text.slice(0, 40)}" is too large`);
  return total;
}

/**
 * Canonical text: the largest unit up to days that divides `ms` exactly ("90m", "36h", "7d",
 * "365d"). Weeks and years are accepted on input but not printed: "7d" reads better than "1w".
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw invalidArgument(`not a duration in ms: ${String(ms)}`);
  if (ms === 0) return '0s';
  const units: DurationUnit[] = ['d', 'h', 'm', 's'];
  for (const u of units) {
    const size = DURATION_UNITS_MS[u];
    if (ms % size === 0) return `${ms / size}${u}`;
  }
  return `${ms / 1000}s`;
}
