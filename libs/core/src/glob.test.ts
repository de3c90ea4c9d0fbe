import { describe, expect, it } from 'vitest';
import { HavenError } from './errors.js';
import { GLOB_MAX_LENGTH, compileGlob, createExcludeMatcher } from './glob.js';

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

describe('compileGlob', () => {
  // [pattern, path, isDir, matches]
  it.each<[string, string, boolean, boolean]>([
    // unanchored names match at any depth
    ['*.log', 'x.log', false, true],
    ['*.log', 'a/b/x.log', false, true],
    ['*.log', 'x.log.gz', false, false],
    ['*.log', 'a.log/inner.txt', false, true], // inside an excluded directory
    ['*', 'anything/at/all', false, true],
    ['cache', 'cache', true, true],
    ['cache', 'a/cache/x', false, true],
    ['cache', 'a/cachex', false, false],
    // `*` and `?` never cross a slash
    ['a*b', 'ab', false, true],
    ['a*b', 'a/b', false, false],
    ['a?c', 'abc', false, true],
    ['a?c', 'a/c', false, false],
    ['a?c', 'ac', false, false],
    ['?', 'ü', false, true],
    // classes
    ['file[0-9].txt', 'file7.txt', false, true],
    ['file[0-9].txt', 'filex.txt', false, false],
    ['file[!0-9].txt', 'filex.txt', false, true],
    ['file[^0-9].txt', 'file7.txt', false, false],
    ['[]a]', ']', false, true],
    ['[a-]', '-', false, true],
    ['x[!a]y', 'x/y', false, false],
    // escapes and regex metacharacters are literal
    ['\\*.txt', '*.txt', false, true],
    ['\\*.txt', 'a.txt', false, false],
    ['a+b(c).$', 'a+b(c).$', false, true],
    ['a.b', 'axb', false, false],
    // anchoring
    ['/build', 'build', true, true],
    ['/build', 'src/build', true, false],
    ['src/*.o', 'src/x.o', false, true],
    ['src/*.o', 'lib/src/x.o', false, false],
    ['src/*.o', 'src/sub/x.o', false, false],
    // directory-only
    ['node_modules/', 'node_modules', true, true],
    ['node_modules/', 'node_modules', false, false],
    ['node_modules/', 'a/node_modules/pkg/index.js', false, true],
    ['tmp/', 'tmp', false, false],
    ['/tmp/', 'tmp/x', false, true],
    // **
    ['**/foo', 'foo', false, true],
    ['**/foo', 'a/b/foo', false, true],
    ['**/foo/bar', 'x/foo/bar', false, true],
    ['a/**', 'a/b', false, true],
    ['a/**', 'a/b/c', false, true],
    ['a/**', 'a', true, false],
    ['a/**/b', 'a/b', false, true],
    ['a/**/b', 'a/x/y/b', false, true],
    ['a/**/b', 'a/xb', false, false],
    ['a**b', 'axxb', false, true],
    ['a**b', 'a/b', false, false],
    ['**', 'x/y', false, true],
    // the root never matches
    ['*', '', true, false],
  ])('%j on %j (dir %s) -> %s', (pattern, path, isDir, expected) => {
    expect(compileGlob(pattern).matches(path, isDir)).toBe(expected);
  });

  it('reports its shape', () => {
    expect(compileGlob('/a/b/')).toMatchObject({ pattern: '/a/b/', dirOnly: true, anchored: true });
    expect(compileGlob('*.log')).toMatchObject({ dirOnly: false, anchored: false });
  });

  it.each([
    ['', 'empty'],
    ['/', 'matches nothing'],
    ['!keep.txt', 'negation'],
    ['a[bc', 'unclosed ['],
    ['[', 'unclosed ['],
    ['abc\\', 'lone backslash'],
    ['a//b', 'empty segment'],
    ['a/../b', '".." segment'],
    ['./a', '"." segment'],
    ['a\0b', 'NUL'],
    ['[z-a]', 'backwards range z-a'],
    ['x[/]y', 'unclosed ['],
    ['x'.repeat(GLOB_MAX_LENGTH + 1), 'longer than'],
  ])('rejects %j', (pattern, message) => {
    invalid(() => compileGlob(pattern), message);
  });

  it('stays linear on patterns that make backtracking RegExps explode', () => {
    const started = Date.now();
    expect(compileGlob('*a*a*a*a*a*a*a*b').matches('a'.repeat(250), false)).toBe(false);
    expect(compileGlob('**/a/**/a/**/a/**/a/**/b').matches(Array<string>(300).fill('a').join('/'), false)).toBe(false);
    expect(compileGlob('*a*a*a*a*a*a*a*b').matches(`${'a'.repeat(250)}b`, false)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('createExcludeMatcher', () => {
  it('matches when any pattern does', () => {
    const excluded = createExcludeMatcher(['*.tmp', 'node_modules/', '/var/cache']);
    expect(excluded('a/b.tmp', false)).toBe(true);
    expect(excluded('web/node_modules', true)).toBe(true);
    expect(excluded('web/node_modules/x/y.js', false)).toBe(true);
    expect(excluded('var/cache/apt/x', false)).toBe(true);
    expect(excluded('srv/var/cache', true)).toBe(false);
    expect(excluded('src/main.ts', false)).toBe(false);
    expect(createExcludeMatcher([])('anything', false)).toBe(false);
  });

  it('validates every pattern up front', () => {
    invalid(() => createExcludeMatcher(['*.tmp', '!x']), 'negation');
  });
});
