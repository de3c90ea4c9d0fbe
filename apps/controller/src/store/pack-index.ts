import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { HavenError } from '@haven/core';

/*
 * The chunk index of a pack store: chunk -> (pack, pos, length, raw length, flags, gen).
 *
 * Durability: journal_mode=WAL with synchronous=FULL. The store commits index rows only
 * after fsyncing the pack bytes they point to, and sync() resolves only after the commit;
 * the caller then acks the agent and commits catalog entries that reference these chunks.
 * With synchronous=NORMAL a WAL commit is fsynced only at the next checkpoint, so power loss
 * could roll it back after the ack, and open-time recovery would then cut the pack tail the
 * lost rows pointed to: acked data gone. FULL costs one WAL fsync per commit, and a commit
 * happens once per sync() (group commit), not per chunk.
 *
 * locking_mode=EXCLUSIVE: one process owns a store directory. A second opener gets
 * SQLITE_BUSY instead of truncating pack files under a live writer. The lock dies with
 * the process, so a kill -9 leaves nothing stale behind. (It also means WAL runs without a
 * shared-memory file.)
 */

const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  -- size: for the open pack, the length covered by the last index commit (recovery cuts the
  -- file back to it); for a sealed pack, its final length.
  CREATE TABLE packs (
    id INTEGER PRIMARY KEY,
    sealed INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
  );
  CREATE TABLE chunks (
    id BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    length INTEGER NOT NULL,
    raw_length INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    gen INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX chunks_by_pack ON chunks (pack, pos);
  INSERT INTO meta (key, value) VALUES ('gc_generation', 1);
`;

export interface ChunkRow {
  readonly pack: number;
  readonly pos: number;
  readonly length: number;
  readonly raw_length: number;
  readonly flags: number;
  readonly gen: number;
}

export interface ListedRow {
  readonly id: Buffer;
  readonly pack: number;
  readonly pos: number;
  readonly length: number;
  readonly raw_length: number;
}

export interface PackRow {
  readonly id: number;
  readonly sealed: number;
  readonly size: number;
  readonly created_ms: number;
}

export interface NewChunk {
  readonly id: Buffer;
  readonly pack: number;
  readonly pos: number;
  readonly length: number;
  readonly rawLength: number;
  readonly flags: number;
}

export interface Relocation {
  readonly id: Buffer;
  readonly fromPack: number;
  readonly fromPos: number;
  readonly toPack: number;
  readonly toPos: number;
}

/** One index commit: everything a sync() makes durable, applied atomically. */
export interface IndexCommit {
  readonly packs: readonly PackRow[];
  readonly chunks: readonly NewChunk[];
  readonly relocations: readonly Relocation[];
  readonly touches: ReadonlyMap<string, number>;
  readonly generation: number;
}

export interface Totals {
  readonly chunks: number;
  readonly storedBytes: number;
  readonly logicalBytes: number;
}

export class PackIndex {
  private readonly db: Database.Database;
  private readonly stmt: {
    getChunk: Statement<[Buffer], ChunkRow>;
    putChunk: Statement<[Buffer, number, number, number, number, number, number]>;
    relocate: Statement<[number, number, Buffer, number, number]>;
    touch: Statement<[number, Buffer, number]>;
    deleteIfOlder: Statement<[Buffer, number]>;
    sweepPage: Statement<[Buffer, number, number], { id: Buffer; length: number }>;
    listPage: Statement<[Buffer, number], ListedRow>;
    packChunks: Statement<[number], { id: Buffer; pos: number; length: number }>;
    packLiveBytes: Statement<[], { pack: number; live: number }>;
    deleteBeyond: Statement<[number, number], { id: Buffer }>;
    countInPack: Statement<[number], { n: number }>;
    packs: Statement<[], PackRow>;
    putPack: Statement<[number, number, number, number]>;
    deletePack: Statement<[number]>;
    totals: Statement<[], Totals>;
    getMeta: Statement<[string], { value: number }>;
    setMeta: Statement<[string, number]>;
  };
  private readonly commitTx: (commit: IndexCommit) => void;
  private readonly setGenerationTx: (gen: number, nowMs: number) => void;
  private readonly deleteOlderTx: (
    rows: readonly { id: Buffer; length: number }[],
    generation: number,
  ) => { count: number; bytes: number };

  constructor(path: string) {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: 100 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) {
        db.transaction(() => {
          db?.exec(SCHEMA);
          db?.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      } else if (version !== SCHEMA_VERSION) {
        throw new HavenError('FAILED_PRECONDITION', `chunk index ${path} has schema version ${version}, expected ${SCHEMA_VERSION}`);
      }
    } catch (err) {
      db?.close();
      if (err instanceof HavenError) throw err;
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new HavenError('FAILED_PRECONDITION', `chunk index ${path} is in use by another process`, { cause: err });
      }
      throw new HavenError('CORRUPT', `cannot open chunk index ${path}`, { cause: err });
    }
    this.db = db;
    this.stmt = {
      getChunk: db.prepare('SELECT pack, pos, length, raw_length, flags, gen FROM chunks WHERE id = ?'),
      putChunk: db.prepare('INSERT OR REPLACE INTO chunks (id, pack, pos, length, raw_length, flags, gen) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      relocate: db.prepare('UPDATE chunks SET pack = ?, pos = ? WHERE id = ? AND pack = ? AND pos = ?'),
      touch: db.prepare('UPDATE chunks SET gen = ? WHERE id = ? AND gen < ?'),
      deleteIfOlder: db.prepare('DELETE FROM chunks WHERE id = ? AND gen < ?'),
      sweepPage: db.prepare('SELECT id, length FROM chunks WHERE id > ? AND gen < ? ORDER BY id LIMIT ?'),
      listPage: db.prepare('SELECT id, pack, pos, length, raw_length FROM chunks WHERE id > ? ORDER BY id LIMIT ?'),
      packChunks: db.prepare('SELECT id, pos, length FROM chunks WHERE pack = ? ORDER BY pos'),
      packLiveBytes: db.prepare('SELECT pack, sum(length) AS live FROM chunks GROUP BY pack'),
      deleteBeyond: db.prepare('DELETE FROM chunks WHERE pack = ? AND pos + length > ? RETURNING id'),
      countInPack: db.prepare('SELECT count(*) AS n FROM chunks WHERE pack = ?'),
      packs: db.prepare('SELECT id, sealed, size, created_ms FROM packs ORDER BY id'),
      putPack: db.prepare(
        'INSERT INTO packs (id, sealed, size, created_ms) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, size = excluded.size',
      ),
      deletePack: db.prepare('DELETE FROM packs WHERE id = ?'),
      totals: db.prepare(
        'SELECT count(*) AS chunks, coalesce(sum(length), 0) AS storedBytes, coalesce(sum(raw_length), 0) AS logicalBytes FROM chunks',
      ),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
    };
    this.commitTx = db.transaction((commit: IndexCommit) => {
      for (const p of commit.packs) this.stmt.putPack.run(p.id, p.sealed, p.size, p.created_ms);
      for (const c of commit.chunks) {
        this.stmt.putChunk.run(c.id, c.pack, c.pos, c.length, c.rawLength, c.flags, commit.generation);
      }
      for (const r of commit.relocations) this.stmt.relocate.run(r.toPack, r.toPos, r.id, r.fromPack, r.fromPos);
      for (const [hex, gen] of commit.touches) this.stmt.touch.run(gen, Buffer.from(hex, 'hex'), gen);
    });
    this.setGenerationTx = db.transaction((gen: number, nowMs: number) => {
      this.stmt.setMeta.run('gc_generation', gen);
      this.stmt.setMeta.run(`gc_generation_started:${gen}`, nowMs);
    });
    this.deleteOlderTx = db.transaction((rows: readonly { id: Buffer; length: number }[], generation: number) => {
      let count = 0;
      let bytes = 0;
      for (const row of rows) {
        if (this.stmt.deleteIfOlder.run(row.id, generation).changes > 0) {
          count += 1;
          bytes += row.length;
        }
      }
      return { count, bytes };
    });
  }

  getChunk(id: Buffer): ChunkRow | undefined {
    return this.stmt.getChunk.get(id);
  }

  commit(commit: IndexCommit): void {
    this.commitTx(commit);
  }

  generation(): number {
    return this.stmt.getMeta.get('gc_generation')?.value ?? 1;
  }

  /** Makes `gen` the current generation, begun at `nowMs`. */
  setGeneration(gen: number, nowMs: number): void {
    this.setGenerationTx(gen, nowMs);
  }

  /** When generation `gen` began; undefined for generation 1 and stores older than this record. */
  generationStartedMs(gen: number): number | undefined {
    return this.stmt.getMeta.get(`gc_generation_started:${gen}`)?.value;
  }

  listPage(after: Buffer, limit: number): ListedRow[] {
    return this.stmt.listPage.all(after, limit);
  }

  sweepCandidates(after: Buffer, generation: number, limit: number): { id: Buffer; length: number }[] {
    return this.stmt.sweepPage.all(after, generation, limit);
  }

  /** Deletes those of `rows` still older than `generation`; counts what it deleted. */
  deleteOlder(rows: readonly { id: Buffer; length: number }[], generation: number): { count: number; bytes: number } {
    return this.deleteOlderTx(rows, generation);
  }

  packChunks(pack: number): { id: Buffer; pos: number; length: number }[] {
    return this.stmt.packChunks.all(pack);
  }

  liveBytesByPack(): Map<number, number> {
    return new Map(this.stmt.packLiveBytes.all().map((r) => [r.pack, r.live]));
  }

  countInPack(pack: number): number {
    return this.stmt.countInPack.get(pack)?.n ?? 0;
  }

  packs(): PackRow[] {
    return this.stmt.packs.all();
  }

  /** Recovery: drops rows whose bytes end beyond `validLength`; returns their ids. */
  deleteBeyond(pack: number, validLength: number): Buffer[] {
    return this.stmt.deleteBeyond.all(pack, validLength).map((r) => r.id);
  }

  putPack(row: PackRow): void {
    this.stmt.putPack.run(row.id, row.sealed, row.size, row.created_ms);
  }

  deletePack(pack: number): void {
    this.stmt.deletePack.run(pack);
  }

  totals(): Totals {
    return this.stmt.totals.get() ?? { chunks: 0, storedBytes: 0, logicalBytes: 0 };
  }

  /** Runs `fn` in one transaction (recovery and pack deletion batch their changes). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.db.close();
  }
}
