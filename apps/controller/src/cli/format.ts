import type { DescEnum } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import { EntryType } from '@haven/proto';
import type { Point } from '@haven/proto';
import { formatDuration } from './render-table.js';

/** An enum value as operators read it: `SET_STATE_CONTINUOUS` -> `CONTINUOUS`. */
export function enumLabel(schema: DescEnum, value: number): string {
  const v = schema.value[value];
  if (v === undefined) return String(value);
  const prefix = schema.sharedPrefix?.toUpperCase() ?? '';
  return prefix !== '' && v.name.startsWith(prefix) ? v.name.slice(prefix.length) : v.name;
}

/** Parses an enum value from its label, case-insensitively (`restore`, `RESTORE`, `JOB_KIND_RESTORE`). */
export function enumFromLabel(schema: DescEnum, text: string): number | undefined {
  const wanted = text.trim().toUpperCase().replace(/-/g, '_');
  for (const v of schema.values) {
    if (v.number === 0) continue;
    if (v.name === wanted || enumLabel(schema, v.number) === wanted) return v.number;
  }
  return undefined;
}

/** Labels of an enum's values except UNSPECIFIED, lowercase, for help and error messages. */
export function enumChoices(schema: DescEnum): string {
  return schema.values
    .filter((v) => v.number !== 0)
    .map((v) => enumLabel(schema, v.number).toLowerCase())
    .join(', ');
}

/** RFC 3339 in UTC to the second, e.g. `2026-01-02T15:04:05Z` (accepted back by --at). */
export function formatTime(ts: Timestamp | undefined): string {
  if (ts === undefined) return '-';
  return new Date(timestampMs(ts)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "12s ago", "3h05m ago", "in 4m00s"; "never" when unset. */
export function formatAgo(ts: Timestamp | undefined, nowMs: number): string {
  if (ts === undefined) return 'never';
  const delta = (nowMs - timestampMs(ts)) / 1000;
  return delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
}

/** Seconds of a protobuf Duration, with its fraction. */
export function durationSeconds(d: Duration | undefined): number {
  return d === undefined ? 0 : Number(d.seconds) + d.nanos / 1e9;
}

/** A measured duration such as an RTO: milliseconds matter below ten seconds. */
export function formatMeasured(d: Duration | undefined): string {
  const s = durationSeconds(d);
  return s < 10 ? `${s.toFixed(3)}s` : formatDuration(s);
}

/** `#1234 2026-01-02T15:04:05Z`, with the branch of a divergent point; `-` when unset. */
export function formatPoint(p: Point | undefined): string {
  if (p === undefined) return '-';
  return `#${p.seq}${p.branch === '' ? '' : `@${p.branch}`} ${formatTime(p.time)}`;
}

/** `ls -l` style: type letter and rwx triplets with setuid, setgid and sticky bits. */
export function formatMode(type: EntryType, mode: number): string {
  const kind = type === EntryType.DIR ? 'd' : type === EntryType.SYMLINK ? 'l' : type === EntryType.BLOCK_DEVICE ? 'b' : '-';
  const bit = (mask: number, c: string): string => ((mode & mask) !== 0 ? c : '-');
  const exec = (x: number, special: number, set: string): string => {
    const hasX = (mode & x) !== 0;
    if ((mode & special) === 0) return hasX ? 'x' : '-';
    return hasX ? set : set.toUpperCase();
  };
  return (
    kind +
    bit(0o400, 'r') + bit(0o200, 'w') + exec(0o100, 0o4000, 's') +
    bit(0o040, 'r') + bit(0o020, 'w') + exec(0o010, 0o2000, 's') +
    bit(0o004, 'r') + bit(0o002, 'w') + exec(0o001, 0o1000, 't')
  );
}

/** A fraction as a whole percentage, "42%". */
export function formatPercent(fraction: number): string {
  return `${Math.floor(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** Key/value lines with aligned values, for `show` commands. */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
}
