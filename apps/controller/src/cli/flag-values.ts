import { durationFromMs } from '@bufbuild/protobuf/wkt';
import type { Duration } from '@bufbuild/protobuf/wkt';
import { HavenError } from '@haven/core';
import { parseDurationMs } from '@haven/runtime';

/** `--ttl 1h` as a protobuf Duration; unset stays unset (the server's default applies). */
export function ttlOf(text: string | undefined): Duration | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms <= 0) throw new HavenError('INVALID_ARGUMENT', `--ttl must be positive, got "${text}"`);
  return durationFromMs(ms);
}

/** A whole number >= min for flags such as `--limit`. */
export function parseCount(text: string, flag: string, min = 1): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new HavenError('INVALID_ARGUMENT', `${flag} must be a whole number >= ${min}, got "${text}"`);
  return n;
}

/** `--sample PCT`: a percentage in (0, 100]. */
export function parsePercent(text: string, flag: string): number {
  const n = /^\d+(\.\d+)?%?$/.test(text.trim()) ? Number(text.trim().replace(/%$/, '')) : NaN;
  if (!(n > 0 && n <= 100)) throw new HavenError('INVALID_ARGUMENT', `${flag} must be a percentage in (0, 100], got "${text}"`);
  return n;
}
