import type { Database } from 'better-sqlite3';
import { isChunkId } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { MAIN_BRANCH } from './catalog.js';
import type { Catalog, ContentRootUse, Point, RetentionKeep, RetentionResult } from './catalog.js';
import { OPEN_SEQ } from './catalog-schema.js';
import { checkBool, invalid, show } from './catalog-validation.js';
import { fromSqliteError } from './sqlite-errors.js';
import { POINT_COLUMNS } from './sqlite-catalog-lookup.js';
import type { Lookup, PointRow } from './sqlite-catalog-lookup.js';

/** Retention, the GC mark and verify's chunk -> files/points mapping. */
export type MaintenanceCatalog = Pick<Catalog, 'applyRetention' | 'liveContentRoots' | 'findVersionsByContentRoots'>;

const ROOTS_PAGE = 1000;

/*
 * Retention runs in SQL against a temp table of the kept seqs: a version survives when some
 * kept seq lies in [seq_from, seq_to), which is one integer-primary-key range probe per closed
 * version. Only closed versions are candidates (an open one holds the latest point, which is
 * always kept), and versions_to lists exactly those, so current rows are never even read.
 */
const NO_KEPT_POINT_INSIDE = `NOT EXISTS (SELECT 1 FROM temp.retention_keep k WHERE k.seq >= versions.seq_from AND k.seq < versions.seq_to)`;

export function createMaintenanceCatalog(db: Database, lookup: Lookup): MaintenanceCatalog {
  const OPEN = OPEN_SEQ;
  // Per connection and never durable; created before the statements that use it are prepared.
  db.exec('CREATE TEMP TABLE IF NOT EXISTS retention_keep (seq INTEGER PRIMARY KEY)');
  const st = {
    clearKeep: db.prepare('DELETE FROM temp.retention_keep'),
    addKeep: db.prepare<[number]>('INSERT OR IGNORE INTO temp.retention_keep (seq) VALUES (?)'),
    keepOnlyPoints: db.prepare<[number]>(
      'DELETE FROM temp.retention_keep WHERE seq NOT IN (SELECT seq FROM journal WHERE set_key = ? AND branch = 0)',
    ),
    countKeep: db.prepare<[], number>('SELECT count(*) FROM temp.retention_keep').pluck(),
    mainPoints: db.prepare<[number], PointRow>(`SELECT ${POINT_COLUMNS} FROM journal WHERE set_key = ? AND branch = 0 ORDER BY seq`),
    countDropPoints: db
      .prepare<[number], number>(
        'SELECT count(*) FROM journal WHERE set_key = ? AND branch = 0 AND seq NOT IN (SELECT seq FROM temp.retention_keep)',
      )
      .pluck(),
    dropPoints: db.prepare<[number]>(
      'DELETE FROM journal WHERE set_key = ? AND branch = 0 AND seq NOT IN (SELECT seq FROM temp.retention_keep)',
    ),
    measureVersions: db.prepare<[number], { n: number; bytes: number }>(
      `SELECT count(*) AS n, coalesce(sum(CASE WHEN type = 'file' THEN size END), 0) AS bytes FROM versions
       WHERE set_key = ? AND branch = 0 AND seq_to < ${OPEN} AND ${NO_KEPT_POINT_INSIDE}`,
    ),
    dropVersions: db.prepare<[number]>(
      `DELETE FROM versions WHERE set_key = ? AND branch = 0 AND seq_to < ${OPEN} AND ${NO_KEPT_POINT_INSIDE}`,
    ),
    // Distinct roots in index order, one page after another: no scan holds the connection.
    rootsPage: db
      .prepare<[Buffer, number], Buffer>(
        'SELECT DISTINCT content_root FROM versions WHERE content_root > ? ORDER BY content_root LIMIT ?',
      )
      .pluck(),
    rootUses: db.prepare<[Buffer], { set_key: number; set_name: string; branch: number; path: string; seq_from: number; seq_to: number }>(
      `SELECT v.set_key, s.name AS set_name, v.branch, v.path, v.seq_from, v.seq_to
       FROM versions v JOIN sets s ON s.key = v.set_key WHERE v.content_root = ?
       ORDER BY s.name, v.branch, v.path, v.seq_from`,
    ),
    pointsWithin: db.prepare<[number, number, number, number], { first: number | null; last: number | null }>(
      'SELECT min(seq) AS first, max(seq) AS last FROM journal WHERE set_key = ? AND branch = ? AND seq >= ? AND seq < ?',
    ),
  };

  const retentionTx = (setName: string, keep: RetentionKeep, dryRun: boolean): RetentionResult => {
    const set = lookup.set(setName);
    st.clearKeep.run();
    if (typeof keep === 'function') {
      for (const r of st.mainPoints.all(set.key)) {
        const point: Point = {
          seq: r.seq,
          timeMs: r.time_ms,
          epoch: r.epoch,
          batchId: r.batch_id,
          label: r.label,
          changeCount: r.change_count,
          bytesAdded: r.bytes_added,
          branch: MAIN_BRANCH,
        };
        if (keep(point)) st.addKeep.run(r.seq);
      }
    } else {
      for (const seq of keep) st.addKeep.run(seq);
      st.keepOnlyPoints.run(set.key);
    }
    if (set.lastSeq > 0) st.addKeep.run(set.lastSeq);
    const pointsKept = st.countKeep.get() as number;
    const pointsDropped = st.countDropPoints.get(set.key) as number;
    const measured = st.measureVersions.get(set.key) as { n: number; bytes: number };
    if (!dryRun) {
      st.dropVersions.run(set.key);
      st.dropPoints.run(set.key);
    }
    st.clearKeep.run();
    return { pointsKept, pointsDropped, versionsDropped: measured.n, bytes: measured.bytes };
  };
  const applyTx = db.transaction(retentionTx);

  return {
    applyRetention(setName, keep, options = {}) {
      if (typeof keep !== 'function') {
        if (!(keep instanceof Set)) throw invalid(`keep must be a Set of seqs or a predicate, got ${show(keep)}`);
        for (const seq of keep as ReadonlySet<unknown>) {
          if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw invalid(`keep holds a non-integer seq ${show(seq)}`);
        }
      }
      const dryRun = options.dryRun === undefined ? false : checkBool('dryRun', options.dryRun);
      // A dry run writes only the temp table, so it takes no write lock on the catalog.
      return dryRun ? applyTx.deferred(setName, keep, true) : applyTx.immediate(setName, keep, false);
    },

    liveContentRoots() {
      return (function* (): Generator<ChunkId> {
        let after: Buffer = Buffer.alloc(0);
        for (;;) {
          let page: Buffer[];
          try {
            page = st.rootsPage.all(after, ROOTS_PAGE);
          } catch (err) {
            throw fromSqliteError(err, 'liveContentRoots');
          }
          for (const root of page) yield root.toString('hex');
          const last = page[page.length - 1];
          if (page.length < ROOTS_PAGE || last === undefined) return;
          after = last;
        }
      })();
    },

    findVersionsByContentRoots(roots) {
      if (roots === null || typeof (roots as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
        throw invalid(`roots must be an iterable of chunk ids, got ${show(roots)}`);
      }
      const wanted = new Set<string>();
      for (const root of roots as Iterable<unknown>) {
        if (typeof root !== 'string' || !isChunkId(root)) throw invalid(`not a chunk id: ${show(root)}`);
        wanted.add(root);
      }
      const out: ContentRootUse[] = [];
      for (const root of [...wanted].sort()) {
        for (const u of st.rootUses.all(Buffer.from(root, 'hex'))) {
          const p = st.pointsWithin.get(u.set_key, u.branch, u.seq_from, u.seq_to);
          out.push({
            contentRoot: root,
            setName: u.set_name,
            branch: lookup.branchName(u.set_key, u.branch),
            path: u.path,
            seqFrom: u.seq_from,
            seqTo: u.seq_to === OPEN ? null : u.seq_to,
            points: p?.first == null || p.last == null ? null : { first: p.first, last: p.last },
          });
        }
      }
      return out;
    },
  };
}
