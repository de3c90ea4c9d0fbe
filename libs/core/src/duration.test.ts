import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { HavenError } from './errors.js';

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['30s', 30_000],
    ['10m', 600_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1y', 365 * 86_400_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'h', '10', '10 m', ' 10m', '10M', '1.5h', '-1h', '10mo', '1h 30m', '10x', '9999999999999y'])(
    'rejects %j with INVALID_ARGUMENT',
    (text) => {
      expect(() => parseDuration(text)).toThrow(HavenError);
      try {
        parseDuration(text);
      } catch (err) {
        expect((err as HavenError).code).toBe('INVALID_ARGUMENT');
        expect((err as HavenError).message).not.toContain('\n');
      }
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [30_000, '30s'],
    [5_400_000, '90m'],
    [86_400_000, '1d'],
    [129_600_000, '36h'],
    [604_800_000, '7d'],
    [365 * 86_400_000, '365d'],
  ])('%d -> %s and back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it('rejects negative and non-integer input', () => {
    expect(() => formatDuration(-1)).toThrow(HavenError);
    expect(() => formatDuration(Number.NaN)).toThrow(HavenError);
  });
});
