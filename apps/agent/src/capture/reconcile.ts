import { invalidArgument, systemClock } from '@haven/core';
import type { Clock } from '@haven/core';
import { excludeNothing, isValidRelPath, joinRelPath, metaChanged } from './entry-meta.js';
import type { EntryMeta, ExcludePredicate } from './entry-meta.js';
import { emptyScanCounts, resolveRoot, scanTree, statEntry } from './scanner.js';
import type { DirOutcome, ScanCounts, ScanEntry } from './scanner.js';
import type { PendingReason, StateDb } from './state-db.js';

/*
 * Reconcile: compare the tree with the state DB's `known` entries, by metadata only, and
 * queue every difference. This is what makes capture correct; the watcher only makes it
 * fast. The join is per directory: the scanner delivers one directory's entries together,
 * and the known children of that directory come from one index range read, so memory is
 * bounded by the largest directory and SQLite does ~one query per directory.
 */

export type ChangeKind = 'new' | 'modified' | 'deleted';

export interface ReconcileOptions {
  /** Reconcile only this relative subtree (it included), e.g. after a watcher reported a directory. */
  under?: string;
  /** Queue changed paths in the state DB (default true). */
  enqueue?: boolean;
  /** Observes each change as it is found. */
  onChange?(path: string, kind: ChangeKind): void;
  /** Paths queued per transaction. */
  batchSize?: number;
  signal?: AbortSignal;
  /** Time recorded for a completed full reconcile. */
  clock?: Clock;
}

export interface ReconcileResult {
  /** Entries seen in the tree. */
  scanned: number;
  new: number;
  modified: number;
  /** Known entries that are gone (whole subtrees included) or now excluded. */
  deleted: number;
  unchanged: number;
  /** Changed paths that were not already queued. */
  enqueued: number;
  scan: ScanCounts;
  durationMs: number;
  /** Generation recorded for a full reconcile; null for a subtree. */
  scanGeneration: number | null;
}

const REASON: Record<ChangeKind, PendingReason> = { new: 'new', modified: 'modified', deleted: 'deleted' };

/** Outcomes after which a directory's missing children really are gone. */
const CHILDREN_KNOWN: ReadonlySet<DirOutcome> = new Set(['listed', 'vanished']);

export async function reconcile(
  setId: string,
  root: string,
  db: StateDb,
  exclude: ExcludePredicate = excludeNothing,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const started = performance.now();
  const under = options.under ?? '';
  if (!isValidRelPath(under)) throw invalidArgument(`invalid subtree: ${JSON.stringify(under)}`);
  const batchSize = options.batchSize ?? 1000;
  const doEnqueue = options.enqueue ?? true;
  const result: ReconcileResult = {
    scanned: 0,
    new: 0,
    modified: 0,
    deleted: 0,
    unchanged: 0,
    enqueued: 0,
    scan: undefined as unknown as ScanCounts,
    durationMs: 0,
    scanGeneration: null,
  };

  const queued: Record<ChangeKind, string[]> = { new: [], modified: [], deleted: [] };
  let queuedCount = 0;
  const flush = (): void => {
    for (const kind of ['new', 'modified', 'deleted'] as const) {
      if (queued[kind].length > 0) result.enqueued += db.enqueue(setId, queued[kind], REASON[kind]);
      queued[kind] = [];
    }
    queuedCount = 0;
  };
  const change = (path: string, kind: ChangeKind): void => {
    result[kind]++;
    options.onChange?.(path, kind);
    if (!doEnqueue) return;
    queued[kind].push(path);
    if (++queuedCount >= batchSize) flush();
  };
  const deleteSubtree = (path: string): void => {
    for (const p of db.listKnownUnder(setId, path)) change(p, 'deleted');
  };
  const compare = (entry: ScanEntry, known: EntryMeta | undefined): void => {
    result.scanned++;
    if (known === undefined) {
      change(entry.path, 'new');
    } else if (metaChanged(known, entry.meta)) {
      change(entry.path, 'modified');
      // A directory that became a file or symlink takes its known subtree with it.
      if (known.type === 'dir' && entry.meta.type !== 'dir') deleteSubtree(entry.path);
    } else {
      result.unchanged++;
    }
  };

  const realRoot = await resolveRoot(root);

  // A subtree reconcile also decides about the subtree's own top entry, and walks only
  // when that is (still) a directory.
  let walk = true;
  if (under !== '') {
    const top = await statEntry(realRoot, under, exclude);
    const known = db.getKnown(setId, under)?.meta;
    if ('entry' in top) {
      compare(top.entry, known);
      walk = top.entry.meta.type === 'dir';
    } else {
      walk = false;
      const gone = 'excluded' in top || ('error' in top && (top.error === 'ENOENT' || top.error === 'ENOTDIR'));
      if (known !== undefined && gone) {
        change(under, 'deleted');
        deleteSubtree(under);
      }
    }
  }

  let currentDir: string | undefined;
  let knownChildren = new Map<string, EntryMeta>();
  const load = (dir: string): void => {
    currentDir = dir;
    knownChildren = db.knownChildren(setId, dir);
  };

  const scan = async (): Promise<ScanCounts> =>
    scanTree(realRoot, {
      exclude,
      start: under,
      ...(options.signal ? { signal: options.signal } : {}),
      onEntry: (entry) => {
        if (entry.dir !== currentDir) load(entry.dir);
        const known = knownChildren.get(entry.name);
        knownChildren.delete(entry.name);
        compare(entry, known);
      },
      onDirectoryDone: (dir, outcome, unreadable) => {
        if (dir !== currentDir) load(dir);
        // A directory that could not be listed says nothing about its children: keep them.
        if (CHILDREN_KNOWN.has(outcome)) {
          for (const name of unreadable) knownChildren.delete(name);
          for (const [name, k] of knownChildren) {
            const path = joinRelPath(dir, name);
            change(path, 'deleted');
            if (k.type === 'dir') deleteSubtree(path);
          }
        }
        currentDir = undefined;
        knownChildren = new Map();
      },
    });
  result.scan = walk ? await scan() : emptyScanCounts();
  if (doEnqueue) flush();
  if (under === '') result.scanGeneration = db.recordScan(setId, (options.clock ?? systemClock).now());
  result.durationMs = performance.now() - started;
  return result;
}
