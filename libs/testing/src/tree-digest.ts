import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeEntryDigest {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  /** Whole milliseconds: restore sets mtimes through utimes, which keeps at least ms. */
  mtimeMs: number;
  /** sha256 of file content, or the symlink target. */
  content: string;
}

/**
 * Everything a restore must reproduce about a tree, keyed by relative path: contents,
 * modes, mtimes (files and symlinks), symlink targets, empty directories. Directory
 * mtimes are left out: creating entries inside a directory moves its mtime.
 */
export function treeDigest(root: string, options: { dirMtimes?: boolean } = {}): Map<string, TreeEntryDigest> {
  const out = new Map<string, TreeEntryDigest>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? root : join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = lstatSync(abs);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) {
        out.set(path, { type: 'symlink', mode: 0, size: 0, mtimeMs: 0, content: readlinkSync(abs) });
      } else if (st.isDirectory()) {
        out.set(path, { type: 'dir', mode, size: 0, mtimeMs: options.dirMtimes === true ? Math.floor(st.mtimeMs) : 0, content: '' });
        walk(path);
      } else if (st.isFile()) {
        out.set(path, { type: 'file', mode, size: st.size, mtimeMs: Math.floor(st.mtimeMs), content: createHash('sha256').update(readFileSync(abs)).digest('hex') });
      }
    }
  };
  walk('');
  return out;
}

/** Human-readable differences between two digests (empty when equal). */
export function diffTrees(expected: Map<string, TreeEntryDigest>, actual: Map<string, TreeEntryDigest>, limit = 20): string[] {
  const out: string[] = [];
  for (const [p, e] of expected) {
    const a = actual.get(p);
    if (a === undefined) out.push(`missing: ${p}`);
    else if (JSON.stringify(a) !== JSON.stringify(e)) out.push(`differs: ${p}: expected ${JSON.stringify(e)} got ${JSON.stringify(a)}`);
    if (out.length >= limit) return out;
  }
  for (const p of actual.keys()) {
    if (!expected.has(p)) out.push(`unexpected: ${p}`);
    if (out.length >= limit) return out;
  }
  return out;
}
