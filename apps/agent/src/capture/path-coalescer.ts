import { HavenError, invalidArgument } from '@haven/core';

/*
 * Turns a burst of file events into one callback: paths are collected in a set and
 * delivered `debounceMs` after the last one, but never later than `maxDelayMs` after the
 * first, so a directory that changes without pause still gets captured. Errors are
 * coalesced the same way (a full watch table fails once per directory), one per window.
 */

export interface PathCoalescerOptions {
  debounceMs: number;
  maxDelayMs: number;
  onPaths(paths: string[]): void;
  onError(err: HavenError): void;
}

export interface PathCoalescer {
  add(path: string): void;
  error(err: unknown): void;
  /** Delivers what is collected now. */
  flush(): void;
  /** Delivers what is collected, then ignores further input. */
  close(): void;
}

/** The error handed to onError: the first of a window, with how many it stands for. */
export function watchError(err: unknown, count: number): HavenError {
  const code = (err as { code?: unknown } | null)?.code;
  const sys = typeof code === 'string' ? code : undefined;
  const message =
    sys === 'ENOSPC'
      ? 'file watcher hit the inotify watch limit (fs.inotify.max_user_watches); changes there are found by scans'
      : sys === 'EMFILE' || sys === 'ENFILE'
        ? 'file watcher ran out of file descriptors; changes there are found by scans'
        : `file watcher failed: ${err instanceof Error ? err.message : String(err)}`;
  return new HavenError('UNAVAILABLE', message, {
    cause: err,
    details: { ...(sys ? { errno: sys } : {}), count: String(count) },
  });
}

export function createPathCoalescer(options: PathCoalescerOptions): PathCoalescer {
  const { debounceMs, maxDelayMs } = options;
  if (!Number.isFinite(debounceMs) || debounceMs < 0) {
    throw invalidArgument(`debounceMs must be >= 0, got ${debounceMs}`);
  }
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < debounceMs) {
    throw invalidArgument(`maxDelayMs must be >= debounceMs, got ${maxDelayMs}`);
  }
  let paths = new Set<string>();
  let firstError: unknown;
  let errorCount = 0;
  let windowStart = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const batch = paths;
    const err = firstError;
    const count = errorCount;
    paths = new Set();
    firstError = undefined;
    errorCount = 0;
    if (batch.size > 0) {
      try {
        options.onPaths([...batch].sort());
      } catch (e) {
        options.onError(new HavenError('INTERNAL', 'file event consumer failed', { cause: e }));
      }
    }
    if (count > 0) options.onError(watchError(err, count));
  };

  const schedule = (): void => {
    const now = performance.now();
    if (timer === undefined) windowStart = now;
    else clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, windowStart + maxDelayMs - now));
    timer = setTimeout(flush, wait);
  };

  return {
    add: (path) => {
      if (closed) return;
      paths.add(path);
      schedule();
    },
    error: (err) => {
      if (closed) return;
      if (errorCount++ === 0) firstError = err;
      schedule();
    },
    flush,
    close: () => {
      if (closed) return;
      flush();
      closed = true;
    },
  };
}
