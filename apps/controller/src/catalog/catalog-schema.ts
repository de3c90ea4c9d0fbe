import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';

/**
 * seq_to of a version that is still current (an open interval). The largest integer a JS
 * number holds exactly, so it round-trips through better-sqlite3 without BigInt. It is
 * written into the SQL as a literal: SQLite uses a partial index only when the query's
 * WHERE visibly implies the index's WHERE, which a bound parameter cannot.
 */
export const OPEN_SEQ = Number.MAX_SAFE_INTEGER;

/** `PRAGMA application_id` of a catalog file ("HVNC"), so a wrong file is refused, not migrated. */
export const CATALOG_APPLICATION_ID = 0x48564e43;

/*
 * Versions are intervals: a row holds for seqs [seq_from, seq_to). The table is clustered on
 * (set_key, branch, path, seq_from), so the state at seq N under a prefix is one primary-key
 * range scan filtered on the interval, already in path order. Indexes:
 * - versions_open: the current row of each path (partial, UNIQUE: at most one open interval
 *   per path), which every commit probes to close the previous version;
 * - versions_from / versions_to: rows that start / end at a seq, for diff, divergent branches
 *   and retention (versions_to only holds closed rows);
 * - versions_root: content roots, for the GC mark (ordered, distinct) and verify lookups.
 * Content roots are stored as 32-byte BLOBs (half the size of hex in every row and index).
 * branch 0 is main; divergent branches are numbered per set in `branches`.
 */
const V1 = `
  CREATE TABLE local_site (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE peer_sites (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    ca_pem TEXT NOT NULL,
    paired_at INTEGER NOT NULL
  );
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cert_fingerprint TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    removed_at INTEGER
  );
  CREATE UNIQUE INDEX hosts_enrolled_name ON hosts (name) WHERE removed_at IS NULL;
  CREATE UNIQUE INDEX hosts_enrolled_fingerprint ON hosts (cert_fingerprint) WHERE removed_at IS NULL;
  CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    host_name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  -- AUTOINCREMENT: ids are never reused, so tailing the log by id cannot skip entries.
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    details_json TEXT NOT NULL
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    set_name TEXT,
    host_id TEXT,
    spec_json TEXT NOT NULL,
    progress_json TEXT NOT NULL,
    result_json TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('PENDING', 'RUNNING');
  CREATE INDEX jobs_by_host ON jobs (host_id) WHERE host_id IS NOT NULL;
  CREATE INDEX jobs_by_set ON jobs (set_name) WHERE set_name IS NOT NULL;
  -- AUTOINCREMENT: a removed set's key is never reused, so a reader paging through an old
  -- set can never wander into a new one.
  CREATE TABLE sets (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('files', 'block')),
    source TEXT NOT NULL,
    excludes_json TEXT NOT NULL,
    retention TEXT,
    replicate_to_json TEXT NOT NULL,
    standby_host TEXT,
    standby_target TEXT,
    sync INTEGER NOT NULL CHECK (sync IN (0, 1)),
    paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
    epoch INTEGER NOT NULL CHECK (epoch >= 1),
    home_site TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_time_ms INTEGER,
    state TEXT NOT NULL,
    lag_seconds REAL NOT NULL DEFAULT 0,
    backlog_bytes INTEGER NOT NULL DEFAULT 0,
    last_report_at INTEGER,
    -- Divergent branches ever created: numbers are never reused, like set keys.
    branches_created INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE branches (
    set_key INTEGER NOT NULL REFERENCES sets (key) ON DELETE CASCADE,
    branch INTEGER NOT NULL CHECK (branch >= 1),
    name TEXT NOT NULL,
    fork_seq INTEGER NOT NULL CHECK (fork_seq >= 0),
    last_seq INTEGER NOT NULL,
    last_time_ms INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (set_key, branch),
    UNIQUE (set_key, name)
  ) WITHOUT ROWID;
  CREATE TABLE journal (
    set_key INTEGER NOT NULL REFERENCES sets (key) ON DELETE CASCADE,
    branch INTEGER NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    epoch INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    label TEXT,
    change_count INTEGER NOT NULL,
    bytes_added INTEGER NOT NULL,
    PRIMARY KEY (set_key, branch, seq)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX journal_batch ON journal (set_key, batch_id);
  CREATE INDEX journal_time ON journal (set_key, branch, time_ms);
  CREATE TABLE versions (
    set_key INTEGER NOT NULL REFERENCES sets (key) ON DELETE CASCADE,
    branch INTEGER NOT NULL,
    path TEXT NOT NULL,
    seq_from INTEGER NOT NULL,
    seq_to INTEGER NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('file', 'dir', 'symlink')),
    mode INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    content_root BLOB,
    symlink_target TEXT,
    PRIMARY KEY (set_key, branch, path, seq_from),
    CHECK (seq_from < seq_to)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX versions_open ON versions (set_key, branch, path) WHERE seq_to = ${OPEN_SEQ};
  CREATE INDEX versions_from ON versions (set_key, branch, seq_from);
  CREATE INDEX versions_to ON versions (set_key, branch, seq_to) WHERE seq_to < ${OPEN_SEQ};
  CREATE INDEX versions_root ON versions (content_root) WHERE content_root IS NOT NULL;
`;

/**
 * Ordered migrations: entry i brings the schema from version i to i + 1. The version is
 * `PRAGMA user_version`, written in the same transaction as the migration, so a crash
 * mid-migration leaves the previous version intact. Append; never edit a released entry.
 */
export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  (db) => {
    db.exec(V1);
  },
];

export const CATALOG_SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the file to the current schema; refuses foreign files and newer schemas. */
export function migrateCatalog(db: Database, path: string): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (appId !== CATALOG_APPLICATION_ID && (appId !== 0 || version !== 0 || hasTables(db))) {
    throw new HavenError('FAILED_PRECONDITION', `${path} is not a Haven catalog (application_id ${appId})`);
  }
  if (version > MIGRATIONS.length) {
    throw new HavenError(
      'FAILED_PRECONDITION',
      `catalog ${path} has schema version ${version}, newer than this controller supports (${MIGRATIONS.length}); upgrade the controller`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    const migrate = MIGRATIONS[v];
    if (migrate === undefined) break;
    db.transaction(() => {
      migrate(db);
      db.pragma(`application_id = ${CATALOG_APPLICATION_ID}`);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

function hasTables(db: Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1").get() !== undefined;
}
