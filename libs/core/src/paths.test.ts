import { describe, expect, it } from 'vitest';
import { HavenError } from './errors.js';
import { baseNameOf, isWithin, joinRelPath, normalizeRelPath, parentOf } from './paths.js';

function invalid(fn: () => unknown, message?: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HavenError);
  expect((err as HavenError).code).toBe('INVALID_ARGUMENT');
  expect((err as HavenError).message).not.toContain('\n');
  if (message !== undefined) expect((err as HavenError).message).toContain(message);
}

describe('normalizeRelPath', () => {
  it.each([
    ['', ''],
    ['.', ''],
    ['./', ''],
    ['a', 'a'],
    ['a/b/c', 'a/b/c'],
    ['a//b///c/', 'a/b/c'],
    ['./a/./b/.', 'a/b'],
    ['a/b/../c', 'a/c'],
    ['a/..', ''],
    ['a/b/../../c', 'c'],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
    ['a\\..\\..\\etc', 'a\\..\\..\\etc'],
    ['dir with space/ü.txt', 'dir with space/ü.txt'],
  ])('%j -> %j', (input, output) => {
    expect(normalizeRelPath(input)).toBe(output);
  });

  it.each([
    ['/', 'must be relative'],
    ['/etc/passwd', 'must be relative'],
    ['//a', 'must be relative'],
    ['..', 'escapes its root'],
    ['../x', 'escapes its root'],
    ['a/../../x', 'escapes its root'],
    ['./../a', 'escapes its root'],
    ['a/b/../../../etc/shadow', 'escapes its root'],
    ['a\0b', 'NUL'],
    ['\0', 'NUL'],
  ])('rejects hostile %j', (input, message) => {
    invalid(() => normalizeRelPath(input), message);
  });

  it('rejects non-strings and survives huge input', () => {
    invalid(() => normalizeRelPath(42 as unknown as string));
    invalid(() => normalizeRelPath(null as unknown as string));
    expect(normalizeRelPath('a/'.repeat(100_000))).toBe(Array<string>(100_000).fill('a').join('/'));
    invalid(() => normalizeRelPath('../'.repeat(100_000)), 'escapes');
    // Long messages are cut short.
    try {
      normalizeRelPath(`/${'x'.repeat(10_000)}`);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });
});

describe('joinRelPath, isWithin, parentOf, baseNameOf', () => {
  it('joins and normalizes', () => {
    expect(joinRelPath('a/b', 'c', 'd/e')).toBe('a/b/c/d/e');
    expect(joinRelPath('', 'x')).toBe('x');
    expect(joinRelPath('a', '')).toBe('a');
    expect(joinRelPath('a/b', '../c')).toBe('a/c');
    invalid(() => joinRelPath('a', '../../x'), 'escapes');
    invalid(() => joinRelPath('a', '/etc'), 'absolute');
    invalid(() => joinRelPath('/a', 'b'), 'relative');
    invalid(() => joinRelPath('a', 'b\0'), 'NUL');
  });

  it.each([
    ['', 'a/b', true],
    ['', '', true],
    ['a', 'a', true],
    ['a', 'a/b', true],
    ['a/', 'a/b/c', true],
    ['a', 'ab', false],
    ['a/b', 'a', false],
    ['a/b', 'a/bc/d', false],
    ['a', 'a/../b', false],
    ['a/b/..', 'a/c', true],
  ])('isWithin(%j, %j) = %s', (parent, child, expected) => {
    expect(isWithin(parent, child)).toBe(expected);
  });

  it('isWithin refuses escaping input rather than answering', () => {
    invalid(() => isWithin('a', '../a'));
    invalid(() => isWithin('/a', 'a'));
  });

  it('parentOf and baseNameOf', () => {
    expect(parentOf('a/b/c')).toBe('a/b');
    expect(parentOf('a')).toBe('');
    expect(parentOf('')).toBeUndefined();
    expect(parentOf('a/b/')).toBe('a');
    expect(baseNameOf('a/b/c.txt')).toBe('c.txt');
    expect(baseNameOf('c')).toBe('c');
    expect(baseNameOf('')).toBe('');
    invalid(() => parentOf('../x'));
  });
});
