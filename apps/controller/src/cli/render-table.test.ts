import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, renderTable } from './render-table.js';

describe('render table', () => {
  it('aligns columns and trims trailing space', () => {
    expect(renderTable(['NAME', 'STATE'], [['docs', 'CONTINUOUS'], ['a-much-longer-name', 'PAUSED']])).toBe(
      ['NAME                STATE', 'docs                CONTINUOUS', 'a-much-longer-name  PAUSED'].join('\n'),
    );
  });
  it('formats bytes and durations for humans', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5n * 1024n ** 3n)).toBe('5.0 GiB');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(252)).toBe('4m12s');
    expect(formatDuration(7500)).toBe('2h05m');
  });
});
