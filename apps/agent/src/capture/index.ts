export {
  excludeNothing,
  identityOf,
  isValidRelPath,
  joinRelPath,
  metaChanged,
  metaFromStats,
  sameIdentity,
  splitRelPath,
} from './entry-meta.js';
export type { EntryMeta, EntryType, ExcludePredicate, FileIdentity, SpecialKind } from './entry-meta.js';
export { createStateDb } from './state-db.js';
export type {
  CommitRecord,
  KnownEntry,
  KnownUpsert,
  PendingItem,
  PendingReason,
  PendingStats,
  PendingTicket,
  ProgressChunk,
  SetState,
  StateDb,
  StateDbOptions,
  UploadProgress,
} from './state-db.js';
export { resolveRoot, scanTree, statEntry } from './scanner.js';
export type { DirOutcome, EntryProbe, ScanCounts, ScanEntry, ScanOptions, SkipReason } from './scanner.js';
export { reconcile } from './reconcile.js';
export type { ChangeKind, ReconcileOptions, ReconcileResult } from './reconcile.js';
export { createWatcher } from './watcher.js';
export type { Watcher, WatcherOptions } from './watcher.js';
export { readFileStable } from './stable-read.js';
export type { StableReadOptions, StableReadResult } from './stable-read.js';
