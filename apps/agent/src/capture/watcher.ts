import { watch as watchFs } from 'node:fs';
import type { Dirent, FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import type { HavenError } from '@haven/core';
import { excludeNothing, joinRelPath, splitRelPath } from './entry-meta.js';
import type { ExcludePredicate } from './entry-meta.js';
import { createPathCoalescer } from './path-coalescer.js';
import { resolveRoot } from './scanner.js';

/*
 * The fast path of capture: inotify events on the set's directories, coalesced into
 * batches of relative paths. The paths are hints ("look here"), not a change log: the
 * consumer lstat()s each one, re-applies the exclude predicate with the real type, and
 * compares with the state DB (a directory it did not know, or whose inode changed, gets a
 * subtree reconcile). Watchers miss events (inotify queue overflow, a full watch table,
 * a directory moved while it was being set up), so correctness comes from reconcile
 * scans; this only makes them rare.
 *
 * Directories only. An inotify watch on a directory reports create, modify, attrib,
 * delete and move of each child by name (node:fs.watch gives 'rename' or 'change' and
 * the child's name), so a watch per file adds nothing a hint needs. chokidar puts a watch
 * and ~7-9 KiB of state on every file and re-lists (and lstat()s every entry of) a changed
 * directory: at 100k files that is ~700-950 MiB of agent RSS and ~9 s of setup, and under
 * 50 small writes/s the re-listing of busy directories takes about half of the agent's
 * CPU. Asking chokidar to ignore files drops
 * the per-file state but not the rest: measured alone on 100k files in 200 directories it
 * still took ~160 MiB and 2-4 s to set up (its walk lstat()s every file), and 65-80% of a
 * core under that write load. So the directory tree is watched here with one
 * node:fs.watch per directory: setup lists directories (entry types come from readdir)
 * and lstat()s only directories, nothing is re-listed on change. Same measurement: +4 MiB,
 * 0.1 s, and no CPU above the writer's own.
 *
 * Keeping the tree of watches in step with the disk:
 *  - a 'rename' event names a child that appeared, vanished or moved: it is lstat()ed, and
 *    a directory not watched yet (or with another inode than the one watched under that
 *    name) gets a watch, then is listed and its subdirectories likewise, reporting every
 *    entry found. The listing happens after the watch is in place, so an entry created
 *    inside a new directory is either listed or raises an event of its own, never neither;
 *    and the new directory itself is reported too, which makes the consumer reconcile its
 *    subtree. A name that is no longer that directory drops the watches under it.
 *  - events about a watched directory itself (its own chmod, deletion or move) arrive on
 *    its own watch under its own name, indistinguishable from a child of that name: both
 *    paths are reported, and a watch that saw such a 'rename' is not trusted by inode
 *    number alone (see `suspect`).
 *  - excluded directories are never watched; paths excluded whatever their type are not
 *    reported. Directories that cannot be read for lack of permission are skipped as a
 *    scan would (counted as denied there) and retried when their metadata changes.
 * These structural checks run one at a time, in event order, so the tree of watches is
 * only ever changed by one of them.
 *
 * Resource note: one inotify watch per directory (files take none), counted against the
 * host's fs.inotify.max_user_watches (often ~8k-192k, shared by every process of the
 * user), and ~3 KiB of memory each, mostly node's own watch handle (20k directories:
 * +57 MiB RSS, 1.1 s of setup). When a watch cannot be added (ENOSPC: the table
 * is full), onError reports it (coalesced, with a count), `degraded` turns true, and the
 * caller must rely on periodic reconcile for the set. A queue overflow
 * (fs.inotify.max_queued_events) is dropped silently by libuv, so it cannot be reported;
 * the periodic reconcile is what finds those changes.
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

interface DirWatch {
  readonly handle: FSWatcher;
  /** Identity of the directory the watch was set on: a same-named successor needs its own. */
  readonly dev: bigint;
  readonly ino: bigint;
  /** Names of the child directories that are watched too (dropped along with this one). */
  readonly subdirs: Set<string>;
}

const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code;
const isGone = (code: unknown): boolean => code === 'ENOENT' || code === 'ENOTDIR';
const isDenied = (code: unknown): boolean => code === 'EACCES' || code === 'EPERM';
/** Directories set up at once: enough to keep libuv's thread pool (4 threads) busy. */
const WALK_CONCURRENCY = 8;

/** Starts watching; resolves once every directory of the set is watched. */
export async function createWatcher(options: WatcherOptions): Promise<Watcher> {
  const realRoot = await resolveRoot(options.root);
  const rootName = basename(realRoot);
  const exclude = options.exclude ?? excludeNothing;
  const debounceMs = options.debounceMs ?? 75;
  const coalescer = createPathCoalescer({
    debounceMs,
    maxDelayMs: options.maxDelayMs ?? Math.max(1000, debounceMs),
    onPaths: options.onPaths,
    onError: options.onError,
  });
  let degraded = false;
  let closed = false;
  /** Watched directories by relative path ('' is the root). */
  const watches = new Map<string, DirWatch>();
  /** Directories that could not be watched or listed for lack of permission. */
  const denied = new Set<string>();
  /**
   * Watches that saw a 'rename' under their own directory's name: the directory itself may
   * have been deleted (the kernel then drops the watch), or a child of that name renamed.
   * A new directory under the old name can reuse the inode number at once (ext4, tmpfs), so
   * when the parent reports that name, such a watch is set up again rather than trusted.
   */
  const suspect = new Set<FSWatcher>();
  /** Paths whose type or identity may have changed, in event order. */
  const checks = new Set<string>();
  let checking = false;

  const absOf = (rel: string): string => (rel === '' ? realRoot : realRoot === '/' ? `/${rel}` : `${realRoot}/${rel}`);
  // Without a type (events) a path is dropped only if excluded either way.
  const report = (rel: string, isDir: boolean | undefined): void => {
    if (rel === '') return;
    if (isDir === undefined ? exclude(rel, false) && exclude(rel, true) : exclude(rel, isDir)) return;
    coalescer.add(rel);
  };
  const fail = (err: unknown): void => {
    degraded = true;
    coalescer.error(err);
  };

  const onEvent = (dir: string, eventType: string, name: string | Buffer | null): void => {
    if (closed) return;
    const renamed = eventType === 'rename';
    if (typeof name !== 'string' || name === '') {
      report(dir, true);
      if (renamed) check(dir);
      return;
    }
    const rel = joinRelPath(dir, name);
    report(rel, undefined);
    // A name appeared or vanished: the directory's own mtime moved as well.
    if (renamed) report(dir, true);
    if (renamed || denied.has(rel)) check(rel);
    if (name === (dir === '' ? rootName : splitRelPath(dir).name)) {
      report(dir, true);
      // The root has no parent watch to report it: look at it here.
      if (renamed && dir === '') check(dir);
    }
  };

  const unwatch = (rel: string): void => {
    const w = watches.get(rel);
    if (w === undefined) return;
    watches.delete(rel);
    suspect.delete(w.handle);
    w.handle.close();
    for (const name of w.subdirs) unwatch(joinRelPath(rel, name));
    if (rel !== '') {
      const { dir, name } = splitRelPath(rel);
      watches.get(dir)?.subdirs.delete(name);
    }
  };

  /**
   * Puts a watch on one directory, then lists it: the entries, or undefined if it is not
   * (or no longer) a directory to watch. The identity and the listing are read after the
   * watch is set, so whatever changes in between raises an event.
   */
  const watchDir = async (rel: string): Promise<Dirent[] | undefined> => {
    const abs = absOf(rel);
    const selfName = rel === '' ? rootName : splitRelPath(rel).name;
    let handle: FSWatcher;
    try {
      const h = watchFs(abs, { persistent: true }, (eventType, name) => {
        if (eventType === 'rename' && name === selfName) suspect.add(h);
        onEvent(rel, eventType, name);
      });
      handle = h;
    } catch (err) {
      const code = codeOf(err);
      if (isDenied(code)) denied.add(rel);
      else if (!isGone(code)) fail(err); // ENOSPC (watch table full) and anything unexpected
      return undefined;
    }
    handle.on('error', (err) => {
      // node closes a watch that failed; what happens below it is found by scans.
      if (watches.get(rel)?.handle === handle) unwatch(rel);
      fail(err);
    });
    const [st, listing] = await Promise.allSettled([lstat(abs, { bigint: true }), readdir(abs, { withFileTypes: true })]);
    const parent = rel === '' ? undefined : splitRelPath(rel);
    // A directory replaced by something else in between is reported by its parent's watch.
    const isDir = st.status === 'fulfilled' && st.value.isDirectory();
    // The parent may have been dropped meanwhile (moved, deleted): nothing to attach to.
    if (closed || !isDir || (parent !== undefined && !watches.has(parent.dir))) {
      suspect.delete(handle);
      handle.close();
      return undefined;
    }
    watches.set(rel, { handle, dev: st.value.dev, ino: st.value.ino, subdirs: new Set() });
    if (parent !== undefined) watches.get(parent.dir)?.subdirs.add(parent.name);
    denied.delete(rel);
    if (listing.status === 'rejected') {
      const code = codeOf(listing.reason);
      unwatch(rel);
      if (isDenied(code)) denied.add(rel);
      else if (!isGone(code)) fail(listing.reason);
      return undefined;
    }
    return listing.value;
  };

  /**
   * Watches `top` and every directory below it, each before it is listed. With `fresh`,
   * the tree appeared after setup: everything found in it is reported.
   */
  const watchTree = (top: string, fresh: boolean): Promise<void> => {
    const stack = [top];
    const visit = async (dir: string): Promise<void> => {
      if (watches.has(dir)) return;
      const entries = await watchDir(dir);
      if (entries === undefined || closed) return;
      if (fresh) report(dir, true);
      for (const entry of entries) {
        // Entry types come from readdir (node lstat()s only where the file system gives none).
        const rel = joinRelPath(dir, entry.name);
        const isDir = entry.isDirectory();
        if (fresh) report(rel, isDir);
        if (isDir && !exclude(rel, true)) stack.push(rel);
      }
    };
    // A few directories at a time: the time goes to round trips through libuv's thread pool.
    return new Promise<void>((resolve) => {
      let active = 0;
      const pump = (): void => {
        while (!closed && active < WALK_CONCURRENCY) {
          const dir = stack.pop();
          if (dir === undefined) break;
          active += 1;
          visit(dir)
            .catch(fail)
            .finally(() => {
              active -= 1;
              pump();
            });
        }
        if (active === 0) resolve();
      };
      pump();
    });
  };

  /** Brings the watches at `rel` in line with what is on disk now. */
  const recheck = async (rel: string): Promise<void> => {
    // Under a directory that is not watched (gone, excluded, failed) there is nothing to attach.
    if (rel !== '' && !watches.has(splitRelPath(rel).dir)) return;
    const st = await lstat(absOf(rel), { bigint: true }).catch(() => undefined);
    if (closed) return;
    const isDir = st !== undefined && st.isDirectory() && (rel === '' || !exclude(rel, true));
    const current = watches.get(rel);
    const same = current !== undefined && isDir && current.ino === st.ino && current.dev === st.dev;
    if (same && (rel === '' || !suspect.has(current.handle))) return;
    if (current !== undefined) unwatch(rel);
    if (rel === '' && current !== undefined) {
      // Every path of the set moved with the root: only a full scan can say what is there now.
      fail(new Error(`protected root ${realRoot} was removed or replaced`));
      if (isDir) await watchTree('', false);
      return;
    }
    if (!isDir) {
      denied.delete(rel);
      return;
    }
    await watchTree(rel, true);
  };

  const drain = async (): Promise<void> => {
    checking = true;
    try {
      for (const rel of checks) {
        checks.delete(rel);
        if (closed) return;
        try {
          await recheck(rel);
        } catch (err) {
          fail(err);
        }
      }
    } finally {
      checking = false;
    }
  };
  function check(rel: string): void {
    checks.add(rel);
    if (!checking) void drain();
  }

  // Events during setup queue their checks until every directory is watched.
  checking = true;
  try {
    await watchTree('', false);
  } finally {
    checking = false;
  }
  if (checks.size > 0 && !closed) void drain();

  return {
    get degraded() {
      return degraded;
    },
    close: () => {
      closed = true;
      coalescer.close();
      for (const w of watches.values()) w.handle.close();
      watches.clear();
      checks.clear();
      return Promise.resolve();
    },
  };
}
