import { HavenError } from './errors.js';

/** A recovery point as an operator names it: a seq, a moment in time, or the latest. */
export type PointSpec = { kind: 'latest' } | { kind: 'seq'; seq: number } | { kind: 'time'; timeMs: number };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses POINT: `latest`, a positive seq number, or an RFC 3339 time with a zone
 * (a time without a zone is ambiguous across sites and is refused).
 */
export function parsePointSpec(text: string): PointSpec {
  const t = text.trim();
  if (t === '' || t === 'latest') return { kind: 'latest' };
  if (/^\d+$/.test(t)) {
    const seq = Number(t);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new HavenError('INVALID_ARGUMENT', `point seq must be >= 1, got ${t}`);
    return { kind: 'seq', seq };
  }
  if (RFC3339.test(t)) {
    const ms = Date.parse(t.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return { kind: 'time', timeMs: ms };
  }
  throw new HavenError('INVALID_ARGUMENT', `not a point: "${t}" (use a seq number, an RFC 3339 time such as 2026-01-02T15:04:05Z, or latest)`);
}
