import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import { MAIN_BRANCH } from './catalog.js';
import type { Branch, BranchSpec, Catalog } from './catalog.js';
import { OPEN_SEQ } from './catalog-schema.js';
import { checkInt, checkName, invalid, show } from './catalog-validation.js';
import type { Lookup, SetRef } from './sqlite-catalog-lookup.js';

/*
 * Divergent branches: what split brain leaves behind, kept instead of merged or deleted.
 * Each branch holds complete version rows for its own line (the state at its fork copied
 * from main, then its own commits), so every read works on it exactly as on main, and
 * retention of main can never take anything from it.
 */

export type BranchCatalog = Pick<Catalog, 'forkBranch' | 'moveToDivergentBranch' | 'listBranches' | 'dropBranch'>;

interface BranchRow {
  name: string;
  fork_seq: number;
  last_seq: number;
  last_time_ms: number | null;
  created_at: number;
}

const branchOf = (r: BranchRow): Branch => ({
  name: r.name,
  forkSeq: r.fork_seq,
  lastSeq: r.last_seq,
  lastPointTimeMs: r.last_time_ms,
  createdAtMs: r.created_at,
});

const COPY_COLUMNS = 'path, seq_from, %END%, type, mode, uid, gid, mtime_ns, size, content_root, symlink_target';
const INSERT_COLUMNS = 'set_key, branch, path, seq_from, seq_to, type, mode, uid, gid, mtime_ns, size, content_root, symlink_target';

export function createBranchCatalog(db: Database, clock: Clock, lookup: Lookup): BranchCatalog {
  const OPEN = OPEN_SEQ;
  const copyLive = (end: string): string =>
    `INSERT INTO versions (${INSERT_COLUMNS})
     SELECT set_key, ?, ${COPY_COLUMNS.replace('%END%', end)} FROM versions
     WHERE set_key = ? AND branch = 0 AND seq_from <= ? AND seq_to > ?`;
  const st = {
    exists: db.prepare<[number, string], number>('SELECT 1 FROM branches WHERE set_key = ? AND name = ?').pluck(),
    nextNo: db.prepare<[number], number>(
      'UPDATE sets SET branches_created = branches_created + 1 WHERE key = ? RETURNING branches_created',
    ).pluck(),
    insert: db.prepare<[number, number, string, number, number, number | null, number]>(
      `INSERT INTO branches (set_key, branch, name, fork_seq, last_seq, last_time_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    one: db.prepare<[number, string], BranchRow>(
      'SELECT name, fork_seq, last_seq, last_time_ms, created_at FROM branches WHERE set_key = ? AND name = ?',
    ),
    list: db.prepare<[number], BranchRow>(
      'SELECT name, fork_seq, last_seq, last_time_ms, created_at FROM branches WHERE set_key = ? ORDER BY branch',
    ),
    // Fork: the versions live at the fork, open again on the new line.
    copyLiveOpen: db.prepare<[number, number, number, number]>(copyLive(String(OPEN))),
    // Move: the versions live at the fork, with the ends the divergent entries gave them.
    copyLiveKeepEnd: db.prepare<[number, number, number, number]>(copyLive('seq_to')),
    moveAfter: db.prepare<[number, number, number]>('UPDATE versions SET branch = ? WHERE set_key = ? AND branch = 0 AND seq_from > ?'),
    reopen: db.prepare<[number, number]>(
      `UPDATE versions SET seq_to = ${OPEN} WHERE set_key = ? AND branch = 0 AND seq_to > ? AND seq_to < ${OPEN}`,
    ),
    moveJournal: db.prepare<[number, number, number]>('UPDATE journal SET branch = ? WHERE set_key = ? AND branch = 0 AND seq > ?'),
    mainLast: db.prepare<[number, number | null, number]>('UPDATE sets SET last_seq = ?, last_time_ms = ? WHERE key = ?'),
    dropVersions: db.prepare<[number, number]>('DELETE FROM versions WHERE set_key = ? AND branch = ?'),
    dropJournal: db.prepare<[number, number]>('DELETE FROM journal WHERE set_key = ? AND branch = ?'),
    dropBranch: db.prepare<[number, number]>('DELETE FROM branches WHERE set_key = ? AND branch = ?'),
  };

  const checkSpec = (spec: BranchSpec): { name: string; atSeq: number } => {
    if (typeof spec !== 'object' || spec === null) throw invalid(`branch spec must be {branch, atSeq}, got ${show(spec)}`);
    const name = checkName('branch name', spec.branch);
    if (name === MAIN_BRANCH) throw invalid(`"${MAIN_BRANCH}" is the main line, not a divergent branch`);
    return { name, atSeq: checkInt('atSeq', spec.atSeq, 0) };
  };

  /** Creates the branch row; the fork point must be 0 or an existing main point. */
  const newBranch = (set: SetRef, name: string, atSeq: number, lastSeq: number, lastTimeMs: number | null): number => {
    if (st.exists.get(set.key, name) !== undefined) {
      throw new HavenError('ALREADY_EXISTS', `set "${set.name}" already has a branch "${name}"`);
    }
    const no = st.nextNo.get(set.key) as number;
    st.insert.run(set.key, no, name, atSeq, lastSeq, lastTimeMs, clock.now());
    return no;
  };

  const forkTx = db.transaction((setName: string, name: string, atSeq: number): Branch => {
    const set = lookup.set(setName);
    const main = lookup.branch(set, undefined);
    const at = atSeq === 0 ? undefined : lookup.requirePoint(set, main, atSeq);
    const no = newBranch(set, name, atSeq, atSeq, at?.time_ms ?? null);
    st.copyLiveOpen.run(no, set.key, atSeq, atSeq);
    return branchOf(st.one.get(set.key, name) as BranchRow);
  });

  const moveTx = db.transaction((setName: string, name: string, atSeq: number): Branch => {
    const set = lookup.set(setName);
    const main = lookup.branch(set, undefined);
    const at = atSeq === 0 ? undefined : lookup.requirePoint(set, main, atSeq);
    if (atSeq >= set.lastSeq) {
      throw new HavenError('FAILED_PRECONDITION', `set "${set.name}" has no main-line points after seq ${atSeq} to move`);
    }
    const no = newBranch(set, name, atSeq, set.lastSeq, set.lastTimeMs);
    // Order matters: copy what the branch shares with main at the fork, then hand over the rows
    // written after it, then reopen on main what the divergent entries had closed.
    st.copyLiveKeepEnd.run(no, set.key, atSeq, atSeq);
    st.moveAfter.run(no, set.key, atSeq);
    st.reopen.run(set.key, atSeq);
    st.moveJournal.run(no, set.key, atSeq);
    st.mainLast.run(atSeq, at?.time_ms ?? null, set.key);
    return branchOf(st.one.get(set.key, name) as BranchRow);
  });

  const dropTx = db.transaction((setName: string, name: string): void => {
    const set = lookup.set(setName);
    const branch = lookup.branch(set, name);
    st.dropVersions.run(set.key, branch.no);
    st.dropJournal.run(set.key, branch.no);
    st.dropBranch.run(set.key, branch.no);
  });

  return {
    forkBranch(setName, spec) {
      const { name, atSeq } = checkSpec(spec);
      return forkTx.immediate(checkName('set name', setName), name, atSeq);
    },
    moveToDivergentBranch(setName, spec) {
      const { name, atSeq } = checkSpec(spec);
      return moveTx.immediate(checkName('set name', setName), name, atSeq);
    },
    listBranches(setName) {
      return st.list.all(lookup.set(setName).key).map(branchOf);
    },
    dropBranch(setName, name) {
      if (checkName('branch name', name) === MAIN_BRANCH) throw invalid('the main line cannot be dropped; remove the set instead');
      dropTx.immediate(checkName('set name', setName), name);
    },
  };
}
