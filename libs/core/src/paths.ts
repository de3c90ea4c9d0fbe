import { invalidArgument } from './errors.js';

/**
 * Set-relative paths: how every file of a protection set is named in the catalog, on the wire
 * and in restore requests. Normalized form: POSIX separators, no leading or trailing slash,
 * no empty, `.` or `..` segments, no NUL; the set's root itself is "". Anything that would
 * escape the root (absolute, or `..` above it) is refused, so a hostile catalog entry or request
 * can never name a file outside a restore target. Backslashes are ordinary name characters, as
 * on Linux.
 */

/** Normalizes a set-relative path; INVALID_ARGUMENT for absolute paths, escapes and NULs. */
export function normalizeRelPath(path: string): string {
  if (typeof path !== 'string') throw invalidArgument('path must be a string');
  if (path.includes('\0')) throw invalidArgument(`path contains a NUL byte: ${JSON.stringify(path.slice(0, 80))}`);
  if (path.startsWith('/')) throw invalidArgument(`path must be relative, got ${JSON.stringify(path.slice(0, 80))}`);
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw invalidArgument(`path escapes its root: ${JSON.stringify(path.slice(0, 80))}`);
      out.pop();
    } else {
      out.push(seg);
    }
  }
  return out.join('/');
}

/** Joins relative parts onto `base` and normalizes; a part may not be absolute nor escape the root. */
export function joinRelPath(base: string, ...parts: string[]): string {
  for (const p of parts) {
    if (typeof p !== 'string') throw invalidArgument('path part must be a string');
    if (p.startsWith('/')) throw invalidArgument(`cannot join an absolute path: ${JSON.stringify(p.slice(0, 80))}`);
  }
  return normalizeRelPath([base, ...parts].filter((p) => p !== '').join('/'));
}

/** True when `child` is `parent` or lies below it (both normalized first; "" is the root). */
export function isWithin(parent: string, child: string): boolean {
  const p = normalizeRelPath(parent);
  const c = normalizeRelPath(child);
  return p === '' || c === p || c.startsWith(`${p}/`);
}

/** The parent of a path ("" for a top-level entry), or undefined for the root itself. */
export function parentOf(path: string): string | undefined {
  const p = normalizeRelPath(path);
  if (p === '') return undefined;
  const slash = p.lastIndexOf('/');
  return slash < 0 ? '' : p.slice(0, slash);
}

/** The last segment of a path ("" for the root). */
export function baseNameOf(path: string): string {
  const p = normalizeRelPath(path);
  return p.slice(p.lastIndexOf('/') + 1);
}
