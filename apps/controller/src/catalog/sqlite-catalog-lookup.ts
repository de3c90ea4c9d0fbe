import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';
import { MAIN_BRANCH } from './catalog.js';
import { checkName } from './catalog-validation.js';

/*
 * Shared lookups of the SQLite catalog parts: a set by name, a branch of a set by name, the
 * existence of a point. Internally a set is its integer `key` and a branch its number (0 =
 * main), which keeps the version rows and indexes small.
 */

export interface SetRef {
  readonly key: number;
  readonly name: string;
  readonly epoch: number;
  readonly lastSeq: number;
  readonly lastTimeMs: number | null;
}

export interface BranchRef {
  readonly no: number;
  readonly name: string;
  readonly forkSeq: number;
  readonly lastSeq: number;
  readonly lastTimeMs: number | null;
}

export interface PointRow {
  readonly seq: number;
  readonly epoch: number;
  readonly time_ms: number;
  readonly batch_id: string;
  readonly label: string | null;
  readonly change_count: number;
  readonly bytes_added: number;
  readonly branch: number;
}

export const POINT_COLUMNS = 'seq, epoch, time_ms, batch_id, label, change_count, bytes_added, branch';

export interface Lookup {
  /** The set named `name`; NOT_FOUND otherwise. */
  set(name: string): SetRef;
  /** A branch of the set by name (undefined / `main` = main); NOT_FOUND otherwise. */
  branch(set: SetRef, name: string | undefined): BranchRef;
  branchName(setKey: number, no: number): string;
  pointRow(set: SetRef, branch: BranchRef, seq: number): PointRow | undefined;
  /** Throws NOT_FOUND unless `seq` is an existing point of the branch, with a message saying why. */
  requirePoint(set: SetRef, branch: BranchRef, seq: number): PointRow;
}

export function createLookup(db: Database): Lookup {
  const st = {
    set: db.prepare<[string], { key: number; name: string; epoch: number; last_seq: number; last_time_ms: number | null }>(
      'SELECT key, name, epoch, last_seq, last_time_ms FROM sets WHERE name = ?',
    ),
    branch: db.prepare<[number, string], { branch: number; name: string; fork_seq: number; last_seq: number; last_time_ms: number | null }>(
      'SELECT branch, name, fork_seq, last_seq, last_time_ms FROM branches WHERE set_key = ? AND name = ?',
    ),
    branchName: db.prepare<[number, number], string>('SELECT name FROM branches WHERE set_key = ? AND branch = ?').pluck(),
    point: db.prepare<[number, number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = ? AND seq = ?`,
    ),
  };

  const lookup: Lookup = {
    set(name) {
      checkName('set name', name);
      const row = st.set.get(name);
      if (row === undefined) throw new HavenError('NOT_FOUND', `no set named "${name}"`);
      return { key: row.key, name: row.name, epoch: row.epoch, lastSeq: row.last_seq, lastTimeMs: row.last_time_ms };
    },
    branch(set, name) {
      if (name === undefined || name === MAIN_BRANCH) {
        return { no: 0, name: MAIN_BRANCH, forkSeq: 0, lastSeq: set.lastSeq, lastTimeMs: set.lastTimeMs };
      }
      checkName('branch name', name);
      const row = st.branch.get(set.key, name);
      if (row === undefined) throw new HavenError('NOT_FOUND', `set "${set.name}" has no branch "${name}"`);
      return { no: row.branch, name: row.name, forkSeq: row.fork_seq, lastSeq: row.last_seq, lastTimeMs: row.last_time_ms };
    },
    branchName(setKey, no) {
      return no === 0 ? MAIN_BRANCH : (st.branchName.get(setKey, no) ?? `#${no}`);
    },
    pointRow(set, branch, seq) {
      return st.point.get(set.key, branch.no, seq);
    },
    requirePoint(set, branch, seq) {
      const row = Number.isSafeInteger(seq) ? st.point.get(set.key, branch.no, seq) : undefined;
      if (row !== undefined) return row;
      const on = branch.no === 0 ? `set "${set.name}"` : `branch "${branch.name}" of set "${set.name}"`;
      let why: string;
      if (!Number.isSafeInteger(seq) || seq < 1) why = 'seqs start at 1';
      else if (branch.lastSeq === 0) why = 'it has no points yet';
      else if (seq > branch.lastSeq) why = `the latest is ${branch.lastSeq}`;
      else if (seq <= branch.forkSeq) why = `the branch starts after seq ${branch.forkSeq}; read it on main`;
      else why = 'it was dropped by retention';
      throw new HavenError('NOT_FOUND', `${on} has no point ${String(seq)}: ${why}`, {
        details: { set: set.name, branch: branch.name, seq: String(seq) },
      });
    },
  };
  return lookup;
}
