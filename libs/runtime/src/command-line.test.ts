import { describe, expect, it } from 'vitest';
import { HavenError } from '@haven/core';
import { formatError, parseCommandLine, parseDurationMs, parseHostPort } from './index.js';

describe('command line', () => {
  const specs = {
    controller: { type: 'string', description: 'address' },
    json: { type: 'boolean', description: 'json' },
    exclude: { type: 'string', multiple: true, description: 'glob' },
  } as const;

  it('accepts global flags before and after the verb', () => {
    const a = parseCommandLine(['--controller', 'h:1', 'set', 'list', '--json'], specs);
    const b = parseCommandLine(['set', 'list', '--json', '--controller', 'h:1'], specs);
    expect(a).toEqual(b);
    expect(a.positionals).toEqual(['set', 'list']);
    expect(a.values.controller).toBe('h:1');
  });

  it('collects repeated flags', () => {
    const r = parseCommandLine(['--exclude', '*.tmp', '--exclude', 'cache/'], specs);
    expect(r.values.exclude).toEqual(['*.tmp', 'cache/']);
  });

  it('turns unknown flags into one INVALID_ARGUMENT line', () => {
    try {
      parseCommandLine(['--bogus'], specs);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(HavenError);
      expect((err as HavenError).code).toBe('INVALID_ARGUMENT');
      expect(formatError('haven', err)).toMatch(/^haven: INVALID_ARGUMENT: .*--bogus[^\n]*$/);
    }
  });

  it('parses durations and host:port', () => {
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(() => parseDurationMs('soon')).toThrow(/not a duration/);
    expect(parseHostPort('127.0.0.1:7443')).toEqual({ host: '127.0.0.1', port: 7443 });
    expect(parseHostPort('[::1]:80')).toEqual({ host: '[::1]', port: 80 });
    expect(() => parseHostPort('nohost')).toThrow(/HOST:PORT/);
  });
});
