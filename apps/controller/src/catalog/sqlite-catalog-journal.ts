import type { Database } from 'better-sqlite3';
import { HavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import type { Catalog, Change, CommitResult, DiffEntry, Point, PointSelector, Version } from './catalog.js';
import { OPEN_SEQ } from './catalog-schema.js';
import {
  checkBool,
  checkChanges,
  checkEntryPath,
  checkInt,
  checkName,
  checkText,
  checkTimeMs,
  invalid,
  show,
} from './catalog-validation.js';
import { fromSqliteError } from './sqlite-errors.js';
import { POINT_COLUMNS } from './sqlite-catalog-lookup.js';
import type { BranchRef, Lookup, PointRow, SetRef } from './sqlite-catalog-lookup.js';
import { VERSION_COLUMNS, compareUtf8, subtreeBounds, versionOf } from './sqlite-catalog-versions.js';
import type { VersionTuple } from './sqlite-catalog-versions.js';

/** Commits, points and reads of the state at a point. */
export type JournalCatalog = Pick<
  Catalog,
  'commit' | 'listPoints' | 'resolvePoint' | 'stateAt' | 'getVersion' | 'diff'
>;

/** Rows per page of a streamed read: big enough to amortize a query, small enough to never hold the connection. */
const PAGE = 1000;

/**
 * The newest version of a path starting at or before a seq: one index seek, however long the
 * path's history. It holds at that seq when its interval has not ended by then.
 * Params: set_key, branch, path, seq.
 */
export const VERSION_AT_SQL = `SELECT ${VERSION_COLUMNS} FROM versions
  WHERE set_key = ? AND branch = ? AND path = ? AND seq_from <= ? ORDER BY seq_from DESC LIMIT 1`;

/**
 * One page of the state at a seq below a prefix: a primary-key range scan in path order
 * (never a scan of the whole table). The (recursive OR ...) term keeps only direct children
 * when recursion is off. Params: set_key, branch, after, before, seq, seq, recursive, prefix/, limit.
 */
export const STATE_UNDER_SQL = `SELECT ${VERSION_COLUMNS} FROM versions
  WHERE set_key = ? AND branch = ? AND path > ? AND path < ? AND seq_from <= ? AND seq_to > ?
    AND (? OR instr(substr(path, length(?) + 1), '/') = 0)
  ORDER BY path LIMIT ?`;

/** STATE_UNDER_SQL for the whole set (no upper bound). Params as above without `before`. */
export const STATE_ALL_SQL = `SELECT ${VERSION_COLUMNS} FROM versions
  WHERE set_key = ? AND branch = ? AND path > ? AND seq_from <= ? AND seq_to > ?
    AND (? OR instr(substr(path, length(?) + 1), '/') = 0)
  ORDER BY path LIMIT ?`;

interface CheckedCommit {
  readonly setName: string;
  readonly epoch: number;
  readonly batchId: string;
  readonly changes: readonly Change[];
  readonly label: string | null;
  readonly timeMs: number | undefined;
  readonly branch: string | undefined;
}

type Selector = { kind: 'latest' } | { kind: 'seq'; seq: number } | { kind: 'time'; timeMs: number };

function checkSelector(sel: PointSelector): Selector {
  if (typeof sel !== 'object' || sel === null) throw invalid(`point selector must be an object, got ${show(sel)}`);
  const s = sel as Record<string, unknown>;
  const kind = s['kind'] ?? (s['latest'] === true ? 'latest' : 'seq' in s ? 'seq' : 'timeMs' in s ? 'time' : undefined);
  if (kind === 'latest') return { kind };
  if (kind === 'seq') return { kind, seq: checkInt('seq', s['seq'], 1) };
  if (kind === 'time') return { kind, timeMs: checkInt('timeMs', s['timeMs'], Number.MIN_SAFE_INTEGER) };
  throw invalid(`point selector must be {seq}, {timeMs} or {latest: true}, got ${show(sel)}`);
}

export function createJournalCatalog(db: Database, clock: Clock, lookup: Lookup): JournalCatalog {
  const OPEN = OPEN_SEQ;
  const st = {
    batch: db.prepare<[number, string], { seq: number; time_ms: number }>(
      'SELECT seq, time_ms FROM journal WHERE set_key = ? AND batch_id = ?',
    ),
    // Ends the current version of a path (found through the partial index of open rows).
    close: db.prepare<[number, number, number, string], { type: string }>(
      `UPDATE versions SET seq_to = ? WHERE set_key = ? AND branch = ? AND path = ? AND seq_to = ${OPEN} RETURNING type`,
    ),
    // A version this very commit inserted is removed rather than closed: [seq, seq) is empty.
    dropFresh: db.prepare<[number, number, string, number], { type: string }>(
      'DELETE FROM versions WHERE set_key = ? AND branch = ? AND path = ? AND seq_from = ? RETURNING type',
    ),
    // Subtree statements go through the open-rows index: a subtree's history can be long, its
    // current rows are what a delete ends. (Without statistics the planner would pick the primary key.)
    dropFreshUnder: db.prepare<[number, number, string, string, number], { path: string }>(
      `DELETE FROM versions INDEXED BY versions_open
       WHERE set_key = ? AND branch = ? AND path > ? AND path < ? AND seq_to = ${OPEN} AND seq_from = ? RETURNING path`,
    ),
    closeUnder: db.prepare<[number, number, number, string, string]>(
      `UPDATE versions INDEXED BY versions_open SET seq_to = ?
       WHERE set_key = ? AND branch = ? AND path > ? AND path < ? AND seq_to = ${OPEN}`,
    ),
    dropFreshAll: db.prepare<[number, number, number], { path: string }>(
      `DELETE FROM versions INDEXED BY versions_open
       WHERE set_key = ? AND branch = ? AND path > '' AND seq_to = ${OPEN} AND seq_from = ? RETURNING path`,
    ),
    closeAll: db.prepare<[number, number, number]>(
      `UPDATE versions INDEXED BY versions_open SET seq_to = ? WHERE set_key = ? AND branch = ? AND path > '' AND seq_to = ${OPEN}`,
    ),
    insert: db.prepare<[number, number, string, number, string, number, number, number, bigint, number, Buffer | null, string | null]>(
      `INSERT INTO versions (set_key, branch, path, seq_from, seq_to, type, mode, uid, gid, mtime_ns, size, content_root, symlink_target)
       VALUES (?, ?, ?, ?, ${OPEN}, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertPoint: db.prepare<[number, number, number, number, number, string, string | null, number, number]>(
      `INSERT INTO journal (set_key, branch, seq, epoch, time_ms, batch_id, label, change_count, bytes_added)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    mainLast: db.prepare<[number, number, number]>('UPDATE sets SET last_seq = ?, last_time_ms = ? WHERE key = ?'),
    branchLast: db.prepare<[number, number, number, number]>(
      'UPDATE branches SET last_seq = ?, last_time_ms = ? WHERE set_key = ? AND branch = ?',
    ),

    branchPoints: db.prepare<[number, number, number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = ? AND seq >= ? ORDER BY seq LIMIT ?`,
    ),
    allPoints: db.prepare<[number, number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND seq >= ? ORDER BY seq, branch LIMIT ?`,
    ),
    latestPoint: db.prepare<[number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = ? ORDER BY seq DESC LIMIT 1`,
    ),
    oldestPoint: db.prepare<[number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = ? ORDER BY seq LIMIT 1`,
    ),
    pointAtTime: db.prepare<[number, number, number], PointRow>(
      `SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = ? AND time_ms <= ?
       ORDER BY time_ms DESC, seq DESC LIMIT 1`,
    ),

    versionAt: db.prepare<[number, number, string, number], VersionTuple>(VERSION_AT_SQL).raw(),
    stateUnder: db
      .prepare<[number, number, string, string, number, number, number, string, number], VersionTuple>(STATE_UNDER_SQL)
      .raw(),
    stateAll: db.prepare<[number, number, string, number, number, number, string, number], VersionTuple>(STATE_ALL_SQL).raw(),
    // A path differs between two points exactly when its version at `from` ended by `to`, or
    // its version at `to` started after `from` (intervals of a path never overlap): two range
    // scans of the seq indexes, no per-path lookups.
    diffBefore: db
      .prepare<{ k: number; b: number; from: number; to: number }, VersionTuple>(
        `SELECT ${VERSION_COLUMNS} FROM versions INDEXED BY versions_to
         WHERE set_key = @k AND branch = @b AND seq_to > @from AND seq_to <= @to AND seq_to < ${OPEN} AND seq_from <= @from
         ORDER BY path`,
      )
      .raw(),
    diffAfter: db
      .prepare<{ k: number; b: number; from: number; to: number }, VersionTuple>(
        `SELECT ${VERSION_COLUMNS} FROM versions INDEXED BY versions_from
         WHERE set_key = @k AND branch = @b AND seq_from > @from AND seq_from <= @to AND seq_to > @to
         ORDER BY path`,
      )
      .raw(),
  };

  const versionAt = (set: SetRef, branch: BranchRef, path: string, seq: number): Version | undefined => {
    const row = st.versionAt.get(set.key, branch.no, path, seq);
    return row !== undefined && row[2] > seq ? versionOf(row) : undefined;
  };

  const applyChanges = (k: number, b: number, seq: number, changes: readonly Change[]): number => {
    // Paths this commit inserted, with the bytes counted for them, so a later change of the
    // same batch replaces them (last wins) instead of closing an empty interval.
    const fresh = new Map<string, number>();
    let bytes = 0;
    const endSubtree = (path: string): void => {
      const { after, before } = subtreeBounds(path);
      if (fresh.size > 0) {
        const dropped = before === null ? st.dropFreshAll.all(k, b, seq) : st.dropFreshUnder.all(k, b, after, before, seq);
        for (const r of dropped) {
          bytes -= fresh.get(r.path) ?? 0;
          fresh.delete(r.path);
        }
      }
      if (before === null) st.closeAll.run(seq, k, b);
      else st.closeUnder.run(seq, k, b, after, before);
    };
    for (const c of changes) {
      const path = c.path;
      let prev: string | undefined;
      const freshBytes = fresh.get(path);
      if (freshBytes === undefined) {
        prev = st.close.get(seq, k, b, path)?.type;
      } else {
        prev = st.dropFresh.get(k, b, path, seq)?.type;
        bytes -= freshBytes;
        fresh.delete(path);
      }
      // A deleted path takes everything below it along (a directory's subtree), and so does a
      // directory replaced by a file or symlink. A put over anything else needs no range probe.
      if (c.op === 'delete') {
        endSubtree(path);
        continue;
      }
      if (c.type !== 'dir' && prev === 'dir') endSubtree(path);
      const root = c.contentRoot ?? null;
      st.insert.run(
        k,
        b,
        path,
        seq,
        c.type,
        c.mode,
        c.uid,
        c.gid,
        c.mtimeNs,
        c.size,
        root === null ? null : Buffer.from(root, 'hex'),
        c.symlinkTarget ?? null,
      );
      const added = c.type === 'file' ? c.size : 0;
      fresh.set(path, added);
      bytes += added;
    }
    return bytes;
  };

  const commitTx = db.transaction((req: CheckedCommit): CommitResult => {
    const set = lookup.set(req.setName);
    const dup = st.batch.get(set.key, req.batchId);
    if (dup !== undefined) return { seq: dup.seq, timeMs: dup.time_ms, duplicate: true };
    const branch = lookup.branch(set, req.branch);
    if (branch.no === 0 && req.epoch !== set.epoch) {
      const details = { set: set.name, setEpoch: String(set.epoch), epoch: String(req.epoch) };
      if (req.epoch < set.epoch) {
        throw new HavenError('FENCED', `set "${set.name}" is at epoch ${set.epoch}; writes with epoch ${req.epoch} are fenced`, {
          details,
        });
      }
      throw new HavenError(
        'FAILED_PRECONDITION',
        `set "${set.name}" is at epoch ${set.epoch}; epoch ${req.epoch} has not been adopted here yet`,
        { details },
      );
    }
    const seq = branch.lastSeq + 1;
    // Point times never go backwards within a branch, so "the newest point at or before T" is one point.
    const timeMs = Math.max(req.timeMs ?? clock.now(), branch.lastTimeMs ?? Number.MIN_SAFE_INTEGER);
    const bytes = applyChanges(set.key, branch.no, seq, req.changes);
    st.insertPoint.run(set.key, branch.no, seq, req.epoch, timeMs, req.batchId, req.label, req.changes.length, bytes);
    if (branch.no === 0) st.mainLast.run(seq, timeMs, set.key);
    else st.branchLast.run(seq, timeMs, set.key, branch.no);
    return { seq, timeMs, duplicate: false };
  });

  const pointsOf = (set: SetRef, rows: PointRow[]): Point[] => {
    const names = new Map<number, string>();
    return rows.map((r) => {
      let branch = names.get(r.branch);
      if (branch === undefined) {
        branch = lookup.branchName(set.key, r.branch);
        names.set(r.branch, branch);
      }
      return {
        seq: r.seq,
        timeMs: r.time_ms,
        epoch: r.epoch,
        batchId: r.batch_id,
        label: r.label,
        changeCount: r.change_count,
        bytesAdded: r.bytes_added,
        branch,
      };
    });
  };
  const pointOf = (set: SetRef, row: PointRow): Point => pointsOf(set, [row])[0] as Point;

  const iso = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

  /** Pages through `fetch(after)` until a short page; errors become HavenErrors. */
  function* paged<R, T>(first: string, fetch: (after: string) => R[], key: (row: R) => string, map: (row: R) => T): Generator<T> {
    let after = first;
    for (;;) {
      let rows: R[];
      try {
        rows = fetch(after);
      } catch (err) {
        throw fromSqliteError(err, 'stateAt');
      }
      for (const r of rows) yield map(r);
      const last = rows[rows.length - 1];
      if (rows.length < PAGE || last === undefined) return;
      after = key(last);
    }
  }

  return {
    commit(request) {
      if (typeof request !== 'object' || request === null) throw invalid(`commit request must be an object, got ${show(request)}`);
      const checked: CheckedCommit = {
        setName: checkName('set name', request.setName),
        epoch: checkInt('epoch', request.epoch, 1),
        batchId: checkText('batchId', request.batchId, 200),
        changes: checkChanges(request.changes),
        label: request.label === undefined ? null : checkText('label', request.label, 200),
        timeMs: request.timeMs === undefined ? undefined : checkTimeMs('timeMs', request.timeMs),
        branch: request.branch === undefined ? undefined : checkName('branch', request.branch),
      };
      return commitTx.immediate(checked);
    },

    listPoints(setName, query = {}) {
      const set = lookup.set(setName);
      const from = query.fromSeq === undefined ? 1 : checkInt('fromSeq', query.fromSeq, 0);
      const limit = query.limit === undefined ? -1 : checkInt('limit', query.limit, 1);
      if (query.branch !== undefined) {
        return pointsOf(set, st.branchPoints.all(set.key, lookup.branch(set, query.branch).no, from, limit));
      }
      if (query.includeDivergent === true) return pointsOf(set, st.allPoints.all(set.key, from, limit));
      return pointsOf(set, st.branchPoints.all(set.key, 0, from, limit));
    },

    resolvePoint(setName, selector, options = {}) {
      const set = lookup.set(setName);
      const branch = lookup.branch(set, options.branch);
      const sel = checkSelector(selector);
      if (sel.kind === 'seq') return pointOf(set, lookup.requirePoint(set, branch, sel.seq));
      const on = branch.no === 0 ? `set "${set.name}"` : `branch "${branch.name}" of set "${set.name}"`;
      if (sel.kind === 'latest') {
        const row = st.latestPoint.get(set.key, branch.no);
        if (row === undefined) throw new HavenError('NOT_FOUND', `${on} has no points yet`);
        return pointOf(set, row);
      }
      const row = st.pointAtTime.get(set.key, branch.no, sel.timeMs);
      if (row !== undefined) return pointOf(set, row);
      const oldest = st.oldestPoint.get(set.key, branch.no);
      throw new HavenError(
        'NOT_FOUND',
        oldest === undefined
          ? `${on} has no points yet`
          : `${on} has no point at or before ${iso(sel.timeMs)}; the oldest is ${oldest.seq} at ${iso(oldest.time_ms)}`,
      );
    },

    stateAt(setName, seq, query = {}) {
      const set = lookup.set(setName);
      const branch = lookup.branch(set, query.branch);
      lookup.requirePoint(set, branch, seq);
      const prefix = query.prefix === undefined ? '' : checkEntryPath('prefix', query.prefix);
      const recursive = query.recursive === undefined ? true : checkBool('recursive', query.recursive);
      const { after, before } = subtreeBounds(prefix);
      const rec = recursive ? 1 : 0;
      const k = set.key;
      const b = branch.no;
      const fetch =
        before === null
          ? (from: string) => st.stateAll.all(k, b, from, seq, seq, rec, after, PAGE)
          : (from: string) => st.stateUnder.all(k, b, from, before, seq, seq, rec, after, PAGE);
      const top = versionAt(set, branch, prefix, seq);
      return (function* (): Generator<Version> {
        if (top !== undefined) yield top;
        yield* paged(after, fetch, (r) => r[0], versionOf);
      })();
    },

    getVersion(setName, path, seq, options = {}) {
      const set = lookup.set(setName);
      const branch = lookup.branch(set, options.branch);
      checkEntryPath('path', path);
      lookup.requirePoint(set, branch, seq);
      return versionAt(set, branch, path, seq);
    },

    diff(setName, fromSeq, toSeq, options = {}) {
      const set = lookup.set(setName);
      const branch = lookup.branch(set, options.branch);
      checkInt('fromSeq', fromSeq, 0);
      lookup.requirePoint(set, branch, toSeq);
      if (fromSeq > 0) lookup.requirePoint(set, branch, fromSeq);
      if (fromSeq > toSeq) throw invalid(`fromSeq ${fromSeq} is after toSeq ${toSeq}`);
      // Both sides are read at once (the changed paths only, never the unchanged state) and
      // merged in path order; diff long ranges of a huge set in windows to bound memory.
      const params = { k: set.key, b: branch.no, from: fromSeq, to: toSeq };
      const before = st.diffBefore.all(params);
      const after = st.diffAfter.all(params);
      return (function* (): Generator<DiffEntry> {
        let i = 0;
        let j = 0;
        for (;;) {
          const b = before[i];
          const a = after[j];
          if (a === undefined && b === undefined) return;
          const order = a === undefined ? -1 : b === undefined ? 1 : compareUtf8(b[0], a[0]);
          if (order < 0) i++;
          if (order > 0) j++;
          if (order === 0) {
            i++;
            j++;
          }
          const path = order > 0 ? (a as VersionTuple)[0] : (b as VersionTuple)[0];
          yield {
            path,
            before: order <= 0 ? versionOf(b as VersionTuple) : null,
            after: order >= 0 ? versionOf(a as VersionTuple) : null,
          };
        }
      })();
    },
  };
}
