import { constants } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, open, opendir, readlink, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { HavenError, invalidArgument } from '@haven/core';
import {
  entryTypeOf,
  excludeNothing,
  isValidRelPath,
  joinRelPath,
  metaFromStats,
  specialKindOf,
  splitRelPath,
} from './entry-meta.js';
import type { EntryMeta, ExcludePredicate, SpecialKind } from './entry-meta.js';
import { fdPath, realPathOfFd } from './proc-fd.js';

/*
 * A streaming, metadata-only directory walker. Depth-first with an explicit stack, one
 * directory listing in memory at a time; never opens a file, never follows a symlink.
 *
 * Each directory is opened with O_NOFOLLOW|O_DIRECTORY and, where /proc is mounted, its
 * real path is checked through /proc/self/fd before it is listed (and the listing reads
 * that very descriptor). A directory swapped for a symlink, or moved out from under an
 * intermediate component, between the parent's listing and its own is therefore never
 * listed or descended: the walk cannot leave the root. Entries are lstat()ed by path,
 * which measured ~40% faster than through /proc/self/fd on 100k files; the worst a race
 * there yields is the metadata of a same-named file elsewhere, which the reader's own
 * containment check then refuses to read.
 */

const DIR_OPEN_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export interface ScanEntry {
  /** Relative to the root, '/'-separated. */
  readonly path: string;
  /** Parent directory ('' for the root). */
  readonly dir: string;
  readonly name: string;
  readonly meta: EntryMeta;
}

/**
 * How listing a directory ended. Only `listed` means its children were all seen (minus
 * entries that vanished or could not be stat'ed, which are counted).
 */
export type DirOutcome = 'listed' | 'vanished' | 'denied' | 'moved' | 'failed';

export type SkipReason = SpecialKind | 'invalid-name';

export interface ScanCounts {
  /** Entries delivered to onEntry. */
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  /** Entries the exclude predicate left out (excluded directories are not descended). */
  excluded: number;
  /** Entries never captured: sockets, FIFOs, devices, names that are not valid UTF-8. */
  skipped: Record<SkipReason, number>;
  /** Entries or directories that disappeared between being listed and being read. */
  vanished: number;
  /** Entries or directories that could not be read for lack of permission. */
  denied: number;
  /** Directories replaced or moved (for example by a symlink) while the scan ran. */
  moved: number;
  /** Other I/O errors, counted and skipped. */
  errors: number;
  durationMs: number;
}

export interface ScanOptions {
  exclude?: ExcludePredicate;
  /**
   * Called for every captured entry. Entries of one directory arrive together, sorted by
   * name, followed by that directory's onDirectoryDone.
   */
  onEntry(entry: ScanEntry): void | Promise<void>;
  /**
   * Called after a directory's entries. `unreadable` names entries that were listed but
   * could not be stat'ed (permission, I/O error): they exist, so they are not deleted.
   */
  onDirectoryDone?(dir: string, outcome: DirOutcome, unreadable: readonly string[]): void | Promise<void>;
  /** Walk only below this relative directory (which itself is not reported). */
  start?: string;
  /** lstat() calls in flight per directory. */
  statConcurrency?: number;
  signal?: AbortSignal;
}

export function emptyScanCounts(): ScanCounts {
  return {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    excluded: 0,
    skipped: { socket: 0, fifo: 0, 'block-device': 0, 'char-device': 0, unknown: 0, 'invalid-name': 0 },
    vanished: 0,
    denied: 0,
    moved: 0,
    errors: 0,
    durationMs: 0,
  };
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;
const isGone = (code: string | undefined): boolean => code === 'ENOENT' || code === 'ENOTDIR';
const isDenied = (code: string | undefined): boolean => code === 'EACCES' || code === 'EPERM';

/** The real path of a protected root, which must be an existing directory. */
export async function resolveRoot(root: string): Promise<string> {
  if (typeof root !== 'string' || !isAbsolute(root)) throw invalidArgument(`root must be an absolute path: ${root}`);
  let real: string;
  try {
    real = await realpath(root);
  } catch (err) {
    if (isGone(codeOf(err))) throw new HavenError('NOT_FOUND', `root does not exist: ${root}`, { cause: err });
    throw new HavenError('UNAVAILABLE', `cannot resolve root ${root}`, { cause: err });
  }
  const st = await stat(real);
  if (!st.isDirectory()) throw invalidArgument(`root is not a directory: ${root}`);
  return real;
}

const absOf = (realRoot: string, rel: string): string =>
  rel === '' ? realRoot : realRoot === '/' ? `/${rel}` : `${realRoot}/${rel}`;

interface Listing {
  outcome: DirOutcome;
  names: string[];
}

async function listDirectory(abs: string, counts: ScanCounts): Promise<Listing> {
  let fh: FileHandle;
  try {
    fh = await open(abs, DIR_OPEN_FLAGS);
  } catch (err) {
    const code = codeOf(err);
    // ELOOP: the name is now a symlink (O_NOFOLLOW); ENOTDIR: no longer a directory.
    if (isGone(code) || code === 'ELOOP') {
      counts.vanished++;
      return { outcome: 'vanished', names: [] };
    }
    if (isDenied(code)) {
      counts.denied++;
      return { outcome: 'denied', names: [] };
    }
    counts.errors++;
    return { outcome: 'failed', names: [] };
  }
  try {
    // List the descriptor that was opened, after checking where it really is.
    const listPath = fdPath(fh.fd) ?? abs;
    const real = await realPathOfFd(fh.fd);
    if (real !== undefined && real !== abs) {
      counts.moved++;
      return { outcome: 'moved', names: [] };
    }
    const names: string[] = [];
    const dir = await opendir(listPath, { bufferSize: 256 });
    for await (const d of dir) names.push(d.name);
    names.sort();
    return { outcome: 'listed', names };
  } catch (err) {
    const code = codeOf(err);
    if (isGone(code)) {
      counts.vanished++;
      return { outcome: 'vanished', names: [] };
    }
    if (isDenied(code)) {
      counts.denied++;
      return { outcome: 'denied', names: [] };
    }
    counts.errors++;
    return { outcome: 'failed', names: [] };
  } finally {
    await fh.close();
  }
}

/** What one path is: a capturable entry, skipped, excluded, or an error code (ENOENT: gone). */
export type EntryProbe =
  | { entry: ScanEntry }
  | { skip: SkipReason }
  | { excluded: true }
  | { error: string | undefined };

/** lstat() one listed name (never following it) and classify it. */
async function probe(base: string, dir: string, name: string, exclude: ExcludePredicate): Promise<EntryProbe> {
  const abs = base === '/' ? `/${name}` : `${base}/${name}`;
  let st: BigIntStats;
  try {
    st = await lstat(abs, { bigint: true });
  } catch (err) {
    // A name that is not valid UTF-8 comes back with U+FFFD and cannot be addressed.
    if (codeOf(err) === 'ENOENT' && name.includes('\uFFFD')) return { skip: 'invalid-name' };
    return { error: codeOf(err) };
  }
  const type = entryTypeOf(st);
  if (type === undefined) return { skip: specialKindOf(st) };
  const path = joinRelPath(dir, name);
  if (exclude(path, type === 'dir')) return { excluded: true };
  let target: string | null = null;
  if (type === 'symlink') {
    try {
      target = await readlink(abs);
    } catch (err) {
      // EINVAL: no longer a symlink; it will be seen as what it became next time.
      return { error: codeOf(err) === 'EINVAL' ? 'ENOENT' : codeOf(err) };
    }
  }
  return { entry: { path, dir, name, meta: metaFromStats(st, type, target) } };
}

/**
 * Probes one path below a resolved root (see resolveRoot) the way the scanner would, for
 * callers that look at single paths (a watcher event, a subtree reconcile).
 */
export function statEntry(
  realRoot: string,
  relPath: string,
  exclude: ExcludePredicate = excludeNothing,
): Promise<EntryProbe> {
  if (relPath === '' || !isValidRelPath(relPath)) {
    throw invalidArgument(`invalid relative path: ${JSON.stringify(relPath)}`);
  }
  const { dir, name } = splitRelPath(relPath);
  return probe(absOf(realRoot, dir), dir, name, exclude);
}

/** Walks the tree below `root` (an absolute directory path), reporting metadata only. */
export async function scanTree(root: string, options: ScanOptions): Promise<ScanCounts> {
  const started = performance.now();
  const exclude = options.exclude ?? excludeNothing;
  const concurrency = options.statConcurrency ?? 64;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw invalidArgument(`statConcurrency must be a positive integer, got ${concurrency}`);
  }
  const start = options.start ?? '';
  if (!isValidRelPath(start)) throw invalidArgument(`invalid start directory: ${JSON.stringify(start)}`);
  const realRoot = await resolveRoot(root);
  const counts = emptyScanCounts();
  const stack: string[] = [start];

  while (stack.length > 0) {
    if (options.signal?.aborted) throw new HavenError('CANCELLED', 'scan cancelled', { cause: options.signal.reason });
    const rel = stack.pop() as string;
    const abs = absOf(realRoot, rel);
    const listing = await listDirectory(abs, counts);
    const childDirs: string[] = [];
    const unreadable: string[] = [];
    for (let i = 0; i < listing.names.length; i += concurrency) {
      const group = listing.names.slice(i, i + concurrency);
      const probes = await Promise.all(group.map((name) => probe(abs, rel, name, exclude)));
      for (const [j, p] of probes.entries()) {
        if ('entry' in p) {
          const { entry } = p;
          counts.entries++;
          if (entry.meta.type === 'file') counts.files++;
          else if (entry.meta.type === 'symlink') counts.symlinks++;
          else {
            counts.dirs++;
            childDirs.push(entry.path);
          }
          const r = options.onEntry(entry);
          if (r !== undefined) await r;
        } else if ('skip' in p) {
          counts.skipped[p.skip]++;
        } else if ('excluded' in p) {
          counts.excluded++;
        } else if (isGone(p.error)) {
          counts.vanished++;
        } else {
          if (isDenied(p.error)) counts.denied++;
          else counts.errors++;
          unreadable.push(group[j] as string);
        }
      }
    }
    if (options.onDirectoryDone !== undefined) {
      const r = options.onDirectoryDone(rel, listing.outcome, unreadable);
      if (r !== undefined) await r;
    }
    // Reversed so that the stack pops subdirectories in name order.
    for (let i = childDirs.length - 1; i >= 0; i--) stack.push(childDirs[i] as string);
  }
  counts.durationMs = performance.now() - started;
  return counts;
}
