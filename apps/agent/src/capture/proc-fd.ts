import { existsSync } from 'node:fs';
import { readlink } from 'node:fs/promises';

/*
 * Linux names every open descriptor under /proc/self/fd. Reading that link gives the real
 * path of what a descriptor refers to, and opening `/proc/self/fd/N/name` resolves `name`
 * inside that very directory. Capture uses both so that a path swapped for a symlink
 * between a check and its use cannot lead it outside the protected root. Without /proc
 * (never on a normal Linux host) the checks are skipped.
 */

const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/** Path that refers to exactly the open descriptor `fd`, or undefined without /proc. */
export function fdPath(fd: number): string | undefined {
  return PROC_FD === undefined ? undefined : `${PROC_FD}/${fd}`;
}

/** The real path of the open descriptor `fd`, or undefined without /proc. */
export async function realPathOfFd(fd: number): Promise<string | undefined> {
  const p = fdPath(fd);
  return p === undefined ? undefined : readlink(p);
}

/** True when `realPath` is `realRoot` or below it. */
export function isWithin(realRoot: string, realPath: string): boolean {
  if (realRoot === '/') return realPath.startsWith('/');
  return realPath === realRoot || realPath.startsWith(`${realRoot}/`);
}
