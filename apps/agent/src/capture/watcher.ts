import type { Stats } from 'node:fs';
import { basename, isAbsolute, join, relative, sep } from 'node:path';
import { watch } from 'chokidar';
import type { EventName } from 'chokidar/handler.js';
import type { HavenError } from '@haven/core';
import { excludeNothing, splitRelPath } from './entry-meta.js';
import type { ExcludePredicate } from './entry-meta.js';
import { createPathCoalescer } from './path-coalescer.js';
import { resolveRoot } from './scanner.js';

/*
 * The fast path of capture: chokidar events, coalesced into batches of relative paths.
 * The paths are hints ("look here"), not a change log: the consumer lstat()s each one,
 * re-applies the exclude predicate with the real type, and compares with the state DB.
 * Watchers miss events (inotify queue overflow, files that live a few milliseconds, a full
 * watch table), so correctness comes from reconcile scans; this only makes them rare.
 *
 * Options chosen against chokidar's defaults:
 *  - atomic: false. With it on, chokidar holds every unlink back 100 ms to merge it with a
 *    re-add, and silently ignores names like `x~` and `.x.swp`. We only need paths; an
 *    unlink and an add of one path deduplicate in the batch anyway.
 *  - awaitWriteFinish: false. It delays events by seconds of polling; the reader checks
 *    stability itself (readFileStable).
 *  - followSymlinks: false. A symlink is an entry, its target is not part of the set.
 *  - ignorePermissionErrors: true. An unreadable directory is reported by scans (counted
 *    as denied); a rescan would not make it readable.
 * Besides chokidar's events, its raw inotify events are used: chokidar throttles change
 * events per path (50 ms) and re-reads a changed directory at most once a second, while a
 * raw event names the changed entry at once.
 *
 * Resource note: chokidar puts an inotify watch on every file as well as every directory,
 * so a set of N entries takes ~N of the host's fs.inotify.max_user_watches (often ~192k,
 * shared by all processes of the user). Past that, onError reports ENOSPC once per batch,
 * `degraded` turns true, and the caller must rely on periodic reconcile for the set.
 */

export interface WatcherOptions {
  /** Absolute path of the protected root. */
  root: string;
  exclude?: ExcludePredicate;
  /** Deduplicated, sorted paths relative to the root ('/'-separated), one call per burst. */
  onPaths(relPaths: string[]): void;
  /** The watcher lost events or watches: schedule a full reconcile. */
  onError(err: HavenError): void;
  /** Quiet time that ends a burst (default 75 ms). */
  debounceMs?: number;
  /** Longest a path waits under a continuous burst (default 1000 ms). */
  maxDelayMs?: number;
}

export interface Watcher {
  /** True once any watcher error happened: some changes are only found by scans. */
  readonly degraded: boolean;
  /** Delivers collected paths, stops watching. */
  close(): Promise<void>;
}

/** Events that add or remove a name, so the parent directory's mtime moved too. */
const NAMESPACE_EVENTS: ReadonlySet<EventName> = new Set<EventName>(['add', 'addDir', 'unlink', 'unlinkDir']);

/** Starts watching; resolves once chokidar has set up its watches. */
export async function createWatcher(options: WatcherOptions): Promise<Watcher> {
  const realRoot = await resolveRoot(options.root);
  const exclude = options.exclude ?? excludeNothing;
  const debounceMs = options.debounceMs ?? 75;
  const coalescer = createPathCoalescer({
    debounceMs,
    maxDelayMs: options.maxDelayMs ?? Math.max(1000, debounceMs),
    onPaths: options.onPaths,
    onError: options.onError,
  });
  let degraded = false;

  const relOf = (abs: string): string | undefined => {
    const rel = relative(realRoot, abs);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    return sep === '/' ? rel : rel.split(sep).join('/');
  };
  // Without a type (unlink, raw events) a path is dropped only if excluded either way.
  const excluded = (rel: string, isDir: boolean | undefined): boolean =>
    isDir === undefined ? exclude(rel, false) && exclude(rel, true) : exclude(rel, isDir);
  const report = (rel: string, isDir: boolean | undefined, withParent: boolean): void => {
    if (excluded(rel, isDir)) return;
    coalescer.add(rel);
    if (withParent) {
      const parent = splitRelPath(rel).dir;
      if (parent !== '') coalescer.add(parent);
    }
  };

  const fsw = watch(realRoot, {
    persistent: true,
    ignoreInitial: true,
    followSymlinks: false,
    atomic: false,
    awaitWriteFinish: false,
    ignorePermissionErrors: true,
    ignored: (abs: string, stats?: Stats) => {
      const rel = relOf(abs);
      return rel !== undefined && excluded(rel, stats === undefined ? undefined : stats.isDirectory());
    },
  });

  fsw.on('all', (event, abs, stats) => {
    const rel = relOf(abs);
    if (rel === undefined) return;
    const isDir = event === 'addDir' || event === 'unlinkDir' ? true : stats?.isDirectory();
    report(rel, isDir, NAMESPACE_EVENTS.has(event));
  });
  fsw.on('raw', (eventType, evPath, details) => {
    const watched = (details as { watchedPath?: unknown } | null)?.watchedPath;
    if (typeof watched !== 'string') return;
    // A file's own watch names the file; a directory's watch names the child that changed.
    // (A child named like its directory is covered by chokidar's own events and scans.)
    const target = !evPath || evPath === basename(watched) ? watched : join(watched, evPath);
    const rel = relOf(target);
    if (rel === undefined) return;
    // 'rename' is inotify's create/delete/move: the parent directory changed as well.
    report(rel, undefined, eventType === 'rename');
  });
  fsw.on('error', (err) => {
    degraded = true;
    coalescer.error(err);
  });

  await new Promise<void>((resolve) => fsw.once('ready', () => resolve()));

  return {
    get degraded() {
      return degraded;
    },
    close: async () => {
      coalescer.close();
      await fsw.close();
    },
  };
}
