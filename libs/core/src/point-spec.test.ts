import { describe, expect, it } from 'vitest';
import { parsePointSpec } from './point-spec.js';

describe('parsePointSpec', () => {
  it('parses latest, seq and RFC 3339 times', () => {
    expect(parsePointSpec('latest')).toEqual({ kind: 'latest' });
    expect(parsePointSpec('42')).toEqual({ kind: 'seq', seq: 42 });
    expect(parsePointSpec('2026-01-02T15:04:05Z')).toEqual({ kind: 'time', timeMs: Date.UTC(2026, 0, 2, 15, 4, 5) });
    expect(parsePointSpec('2026-01-02T16:04:05.5+01:00')).toEqual({ kind: 'time', timeMs: Date.UTC(2026, 0, 2, 15, 4, 5, 500) });
  });
  it('refuses zero, zoneless times and junk with one line', () => {
    expect(() => parsePointSpec('0')).toThrow(/>= 1/);
    expect(() => parsePointSpec('2026-01-02T15:04:05')).toThrow(/not a point/);
    expect(() => parsePointSpec('yesterday')).toThrow(/not a point/);
  });
});
