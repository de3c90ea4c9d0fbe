import Database from 'better-sqlite3';
import { HavenError, systemClock } from '@haven/core';
import type { Clock } from '@haven/core';
import type { Catalog } from './catalog.js';
import { migrateCatalog } from './catalog-schema.js';
import { invalid, show } from './catalog-validation.js';
import { fromSqliteError, withHavenErrors } from './sqlite-errors.js';
import { createAdminCatalog } from './sqlite-catalog-admin.js';
import { createBranchCatalog } from './sqlite-catalog-branches.js';
import { createJournalCatalog } from './sqlite-catalog-journal.js';
import { createLookup } from './sqlite-catalog-lookup.js';
import { createMaintenanceCatalog } from './sqlite-catalog-maintenance.js';
import { createSetCatalog } from './sqlite-catalog-sets.js';

export interface SqliteCatalogOptions {
  /** The catalog file (created if missing; its directory must exist). */
  readonly path: string;
  /** Time source for every timestamp the catalog writes; default the system clock. */
  readonly clock?: Clock;
}

/** Waiting for a lock held by another connection (a backup, a sqlite3 shell) before UNAVAILABLE. */
const BUSY_TIMEOUT_MS = 5000;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** Page cache: the version indexes of a large set are hot during commits and state reads. */
const CACHE_KIB = 64 * 1024;

/**
 * Opens (creating or migrating) the catalog at `path`. Every statement is prepared here,
 * once; the returned catalog is used from one thread, and all its calls are synchronous.
 */
export function createSqliteCatalog(options: SqliteCatalogOptions): Catalog {
  if (typeof options !== 'object' || options === null) throw invalid(`catalog options must be an object, got ${show(options)}`);
  const { path } = options;
  if (typeof path !== 'string' || path.trim() === '' || path === ':memory:' || path.startsWith('file:')) {
    throw invalid(`catalog path must be a file path, got ${show(path)}`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw invalid('clock must have a now() method');

  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL: readers never block the writer, and a commit is one sequential append.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new HavenError('FAILED_PRECONDITION', `catalog ${path}: cannot use WAL (journal_mode is ${String(mode)})`);
    // FULL: the WAL is fsynced at every commit. The controller acks an agent's batch only after
    // commit() returns, and an acked change must survive power loss (the "protocol C" promise).
    // With NORMAL a WAL commit is durable against kill -9 (it sits in the OS page cache) but not
    // against power loss, which could roll back an acked commit. Commits are per batch, so the
    // fsync is paid once per batch, not per file.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A 100k-change commit grows the WAL to tens of MB; after the next checkpoint it is cut back.
    db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
    db.pragma(`cache_size = -${CACHE_KIB}`);
    migrateCatalog(db, path);
  } catch (err) {
    db?.close();
    if (err instanceof HavenError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === undefined || code === 'SQLITE_CANTOPEN') {
      // A missing directory or an unwritable path: the data dir is not set up (haven-controller init).
      throw new HavenError('FAILED_PRECONDITION', `cannot open catalog ${path}: ${(err as Error).message}`, { cause: err });
    }
    throw fromSqliteError(err, `open catalog ${path}`);
  }

  const conn = db;
  const lookup = createLookup(conn);
  const parts = {
    ...createAdminCatalog(conn, clock),
    ...createSetCatalog(conn, clock, lookup),
    ...createJournalCatalog(conn, clock, lookup),
    ...createBranchCatalog(conn, clock, lookup),
    ...createMaintenanceCatalog(conn, lookup),
  };
  return withHavenErrors<Catalog>({
    ...parts,
    close() {
      if (conn.open) conn.close();
    },
  });
}
