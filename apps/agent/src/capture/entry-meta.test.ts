import { describe, expect, it } from 'vitest';
import { isValidRelPath, joinRelPath, metaChanged, sameIdentity, splitRelPath } from './entry-meta.js';
import type { EntryMeta } from './entry-meta.js';

const meta: EntryMeta = {
  type: 'file',
  size: 1n,
  mtimeNs: 10n,
  ctimeNs: 20n,
  ino: 5n,
  dev: 7n,
  mode: 0o644,
  uid: 1,
  gid: 1,
  symlinkTarget: null,
};

describe('entry metadata', () => {
  it('sees a change in any compared field', () => {
    const changes: Partial<EntryMeta>[] = [
      { type: 'dir' },
      { size: 2n },
      { mtimeNs: 11n },
      { ctimeNs: 21n },
      { ino: 6n },
      { mode: 0o600 },
      { uid: 2 },
      { gid: 2 },
      { symlinkTarget: 'x' },
    ];
    for (const c of changes) {
      const label = Object.keys(c).join();
      expect(metaChanged(meta, { ...meta, ...c }), label).toBe(true);
    }
    expect(metaChanged(meta, { ...meta })).toBe(false);
  });

  it('ignores the device number, which some filesystems renumber at boot', () => {
    expect(metaChanged(meta, { ...meta, dev: 99n })).toBe(false);
    expect(sameIdentity(meta, { ...meta, dev: 99n })).toBe(false);
  });

  it('validates and splits relative paths', () => {
    for (const ok of ['', 'a', 'a/b', 'a b/.hidden', '…/x']) expect(isValidRelPath(ok), ok).toBe(true);
    for (const bad of ['/a', 'a/', 'a//b', '.', 'a/./b', '..', 'a/..', 'a\0b']) {
      expect(isValidRelPath(bad), bad).toBe(false);
    }
    expect(splitRelPath('a/b/c')).toEqual({ dir: 'a/b', name: 'c' });
    expect(splitRelPath('top')).toEqual({ dir: '', name: 'top' });
    expect(joinRelPath('', 'x')).toBe('x');
    expect(joinRelPath('a/b', 'x')).toBe('a/b/x');
  });
});
