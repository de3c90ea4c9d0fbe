import Database from 'better-sqlite3';
import type { ChunkId } from '@haven/core';

/**
 * Which chunks each set has proven it holds: by uploading them (verified against their
 * id) or by committing versions that reference them. find-missing answers and chunk
 * reads are limited to this scope, so a host can neither probe for nor read another
 * host's data by guessing ids.
 *
 * The scope is a cache of facts that commit re-checks: losing rows (synchronous=OFF,
 * a crash) only makes an agent upload a chunk again, never admits an unproven claim.
 */
export interface ChunkScope {
  add(set: string, ids: readonly ChunkId[]): void;
  /** For each id, whether `set` holds it. */
  has(set: string, ids: readonly ChunkId[]): boolean[];
  removeSet(set: string): void;
  close(): void;
}

export function createChunkScope(path: string): ChunkScope {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE IF NOT EXISTS scope (set_name TEXT NOT NULL, chunk BLOB NOT NULL, PRIMARY KEY (set_name, chunk)) WITHOUT ROWID');
  const insert = db.prepare('INSERT OR IGNORE INTO scope (set_name, chunk) VALUES (?, ?)');
  const select = db.prepare('SELECT 1 FROM scope WHERE set_name = ? AND chunk = ?').pluck();
  const drop = db.prepare('DELETE FROM scope WHERE set_name = ?');
  const addMany = db.transaction((set: string, ids: readonly ChunkId[]) => {
    for (const id of ids) insert.run(set, Buffer.from(id, 'hex'));
  });
  return {
    add: (set, ids) => {
      if (ids.length > 0) addMany(set, ids);
    },
    has: (set, ids) => ids.map((id) => select.get(set, Buffer.from(id, 'hex')) !== undefined),
    removeSet: (set) => {
      drop.run(set);
    },
    close: () => db.close(),
  };
}
