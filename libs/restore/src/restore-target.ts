import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { HavenError, invalidArgument } from '@haven/core';

/**
 * The directory a restore writes into, and the only way the writer names paths inside it.
 * Entry paths come from the catalog and are treated as hostile: they must be normalized
 * set-relative paths, and every directory on the way to an entry must be a real directory
 * (checked with lstat, created when missing); a symlink there is never followed, whether it
 * was already in the target or restored a moment ago. Node has no openat/renameat, so a
 * local user swapping a checked directory for a symlink could still race a write; the
 * realpath check right before each rename narrows that window to the rename itself.
 */
export interface RestoreTarget {
  /** The target directory, resolved (realpath) once at open. */
  readonly root: string;
  /** Creates (as needed) and checks the directory `segments` names; returns its absolute path. */
  ensureDir(segments: readonly string[]): Promise<string>;
  /** Fails unless `dir` still resolves to the same place inside the root (nothing was swapped). */
  confirmInside(dir: string, segments: readonly string[]): Promise<void>;
}

/** Splits a set-relative entry path; INVALID_ARGUMENT for anything that is not a plain relative path. */
export function entrySegments(path: string): string[] {
  const shown = JSON.stringify(path.slice(0, 120));
  if (path === '') return [];
  if (path.includes('\0')) throw invalidArgument(`entry path ${shown} contains a NUL byte`);
  if (path.startsWith('/')) throw invalidArgument(`entry path ${shown} is absolute`);
  const segments = path.split('/');
  for (const s of segments) {
    if (s === '..') throw invalidArgument(`entry path ${shown} escapes the target with ".."`);
    if (s === '' || s === '.') throw invalidArgument(`entry path ${shown} is not normalized`);
  }
  return segments;
}

export async function openRestoreTarget(dir: string): Promise<RestoreTarget> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const root = await realpath(dir);
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) throw new HavenError('FAILED_PRECONDITION', `restore target ${dir} is not a directory`);
  /** Relative paths already known to be real directories of the target. */
  const checked = new Set<string>(['']);

  const checkOne = async (rel: string): Promise<void> => {
    const abs = join(root, rel);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const st = await lstat(abs);
        if (st.isDirectory()) return;
        if (st.isSymbolicLink()) {
          throw new HavenError('FAILED_PRECONDITION', `"${rel}" is a symlink in the target; restore never writes through symlinks`);
        }
        throw new HavenError('FAILED_PRECONDITION', `"${rel}" exists in the target and is not a directory`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      try {
        await mkdir(abs, { mode: 0o755 });
        return;
      } catch (err) {
        // Another writer created it between our lstat and mkdir: check what it is.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new HavenError('FAILED_PRECONDITION', `"${rel}" keeps changing in the target`);
  };

  return {
    root,
    async ensureDir(segments) {
      for (let i = 1; i <= segments.length; i++) {
        const rel = segments.slice(0, i).join('/');
        if (checked.has(rel)) continue;
        await checkOne(rel);
        checked.add(rel);
      }
      return join(root, ...segments);
    },
    async confirmInside(dir, segments) {
      const expected = join(root, ...segments);
      let real: string;
      try {
        real = await realpath(dir);
      } catch (err) {
        throw new HavenError('FAILED_PRECONDITION', `"${segments.join('/')}" vanished from the target during restore`, { cause: err });
      }
      if (real !== expected) {
        throw new HavenError('FAILED_PRECONDITION', `"${segments.join('/')}" was replaced by a link during restore; refusing to write through it`);
      }
    },
  };
}
