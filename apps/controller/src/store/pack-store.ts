import { createSecretKey } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HavenError, chunkIdOf, isChunkId, systemClock } from '@haven/core';
import type { ChunkId, Clock } from '@haven/core';
import type {
  ChunkData,
  ChunkLocation,
  ChunkStore,
  ChunkStoreStats,
  CompactOptions,
  CompactResult,
  StoredChunk,
  SweepOptions,
  PutResult,
  SweepResult,
} from './chunk-store.js';
import { PACK_NAME, PackFiles, fdatasyncAsync, fsyncDir, packName } from './pack-files.js';
import { PackIndex } from './pack-index.js';
import type { PackRow } from './pack-index.js';
import { MAX_CHUNK_BYTES, PACK_HEADER_BYTES, createRecordCodec, encodePackHeader } from './pack-record.js';
import type { RecordCodec } from './pack-record.js';
import { recoverPacks } from './pack-recovery.js';
import { PackWriter } from './pack-writer.js';
import type { Pack, RecoveredPacks, RecoveryReport } from './pack-recovery.js';

export interface PackStoreOptions {
  /** Store directory: `index.sqlite` and `packs/`. Created when missing. */
  readonly dir: string;
  /** The 32-byte data-encryption key (loadStorageKey). */
  readonly key: Uint8Array;
  /** zstd level for chunks that arrive uncompressed (default 3). */
  readonly compressionLevel?: number;
  /** A pack is sealed and a new one started when the next record would pass this size (default 64 MiB). */
  readonly packSizeBytes?: number;
  /** Descriptors of sealed packs kept open for reads (default 256). */
  readonly maxOpenFiles?: number;
  readonly clock?: Clock;
}

export interface PackStore extends ChunkStore {
  readonly recovery: RecoveryReport;
  /** Absolute path of a pack named in a ChunkLocation or an error's details. */
  packPath(pack: string): string;
}

const MiB = 1024 * 1024;
const NOT_STORED: PutResult = Object.freeze({ stored: false, storedBytes: 0 });
const PAGE = 1000;

interface PendingChunk {
  readonly idBuf: Buffer;
  readonly pack: Pack;
  readonly pos: number;
  readonly length: number;
  readonly rawLength: number;
  readonly flags: number;
  readonly written: Promise<void>;
  done: boolean;
}

interface PendingRelocation {
  readonly idBuf: Buffer;
  readonly fromPack: number;
  readonly fromPos: number;
  readonly to: Pack;
  readonly toPos: number;
  readonly written: Promise<void>;
}

/**
 * Opens (creating when needed) a pack store: chunks appended as encrypted records to pack
 * files, indexed in SQLite. Runs crash recovery before resolving; see `recovery`.
 *
 * Write path: put() compresses (unless given a zstd frame, or told the chunk is
 * incompressible), encrypts, reserves the next offset of the open pack and queues a
 * positional write (PackWriter batches the records queued meanwhile into one writev); the
 * index row waits in memory.
 * sync() waits for those writes, fdatasyncs every pack written since the last sync (and the
 * directory when a pack was created), and only then commits all their index rows in one
 * transaction. So an index row never points at bytes that were not durable first.
 * Sealing is a state in the index (committed by the sync after the pack fills), not a rename:
 * a sealed pack is never appended to again and its descriptor stays open for reads.
 *
 * Recovery at open: the index records, per pack, the length its last commit covered. Bytes
 * of the open pack beyond it (a torn record, or whole records whose sync never committed)
 * are cut, not re-indexed: no caller was told they are durable, so the sender still holds
 * and resends them, and the index stays the one source of truth for what exists. Pack files
 * the index does not know are deleted. Index rows whose bytes are missing are removed and
 * reported (see RecoveryReport.lostChunks).
 */
export async function createPackStore(options: PackStoreOptions): Promise<PackStore> {
  const dir = options.dir;
  if (typeof dir !== 'string' || dir === '') throw new HavenError('INVALID_ARGUMENT', 'pack store dir must be a non-empty path');
  if (!(options.key instanceof Uint8Array) || options.key.length !== 32) {
    throw new HavenError('INVALID_ARGUMENT', 'pack store key must be 32 bytes');
  }
  const compressionLevel = intOption('compressionLevel', options.compressionLevel, 3, 1, 19);
  const packSizeBytes = intOption('packSizeBytes', options.packSizeBytes, 64 * MiB, 4096, 4 * 1024 * MiB);
  const maxOpenFiles = intOption('maxOpenFiles', options.maxOpenFiles, 256, 4, 65536);
  const clock = options.clock ?? systemClock;

  const packsDir = join(dir, 'packs');
  // Owner-only: the index names every chunk id the site holds.
  mkdirSync(packsDir, { recursive: true, mode: 0o700 });
  const index = new PackIndex(join(dir, 'index.sqlite'));
  const files = new PackFiles(packsDir, maxOpenFiles);
  try {
    // SQLite syncs the directory for its WAL but not for a newly created database file.
    await fsyncDir(dir);
    const recovered = await recoverPacks(index, files);
    const codec = createRecordCodec(createSecretKey(Buffer.from(options.key)), compressionLevel);
    return new PackStoreImpl(index, files, codec, recovered, packSizeBytes, clock);
  } catch (err) {
    files.closeAll();
    index.close();
    throw err;
  }
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HavenError('INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

class PackStoreImpl implements PackStore {
  readonly recovery: RecoveryReport;
  private readonly packs: Map<number, Pack>;
  private open: Pack | undefined;
  private nextPackId: number;
  /** Chunks written but not yet committed to the index; get() and has() see them. */
  private readonly pending = new Map<ChunkId, PendingChunk>();
  private relocations: PendingRelocation[] = [];
  /** has()/put() hits on indexed chunks: id -> generation, committed with the next sync. */
  private touches = new Map<ChunkId, number>();
  private dirDirty = false;
  private generation: number;
  private failure: HavenError | undefined;
  private closed = false;
  private syncChain: Promise<void> = Promise.resolve();
  private syncQueued: Promise<void> | undefined;
  private gcChain: Promise<unknown> = Promise.resolve();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly writer = new PackWriter();

  constructor(
    private readonly index: PackIndex,
    private readonly files: PackFiles,
    private readonly codec: RecordCodec,
    recovered: RecoveredPacks,
    private readonly packSizeBytes: number,
    private readonly clock: Clock,
  ) {
    this.recovery = recovered.report;
    this.packs = recovered.packs;
    this.open = recovered.open;
    this.nextPackId = recovered.nextPackId;
    this.generation = index.generation();
  }

  packPath(pack: string): string {
    if (!PACK_NAME.test(pack)) throw new HavenError('INVALID_ARGUMENT', `not a pack name: ${pack.slice(0, 80)}`);
    return join(this.files.dir, pack);
  }

  put(id: ChunkId, data: ChunkData): Promise<PutResult> {
    return this.run(async () => {
      this.checkWritable();
      const idBuf = parseId(id);
      if (typeof data !== 'object' || data === null || !(data.raw instanceof Uint8Array)) {
        throw new HavenError('INVALID_ARGUMENT', 'chunk data must carry raw bytes');
      }
      if (data.zstd !== undefined && !(data.zstd instanceof Uint8Array)) {
        throw new HavenError('INVALID_ARGUMENT', 'chunk zstd form must be bytes');
      }
      if (data.incompressible !== undefined && typeof data.incompressible !== 'boolean') {
        throw new HavenError('INVALID_ARGUMENT', 'chunk incompressible hint must be a boolean');
      }
      if (data.raw.length > MAX_CHUNK_BYTES) {
        throw new HavenError('INVALID_ARGUMENT', `chunk of ${data.raw.length} bytes exceeds the maximum ${MAX_CHUNK_BYTES}`);
      }
      const existing = this.pending.get(id);
      if (existing) {
        await existing.written;
        return NOT_STORED;
      }
      const row = this.index.getChunk(idBuf);
      if (row) {
        this.touch(id, row.gen);
        return NOT_STORED;
      }
      // From here to pending.set() nothing awaits: a concurrent put of the same id finds
      // the pending entry, so the chunk is written once.
      const record = this.codec.encode(idBuf, data.raw, data.zstd, data.incompressible);
      const pack = this.packFor(record.length);
      const pos = pack.size;
      pack.size += record.length;
      pack.dirty = true;
      const written = this.writer.write(this.files.fdOf(pack.id), record.parts, pos, record.length).catch((err: unknown) => {
        throw this.fail(err, 'pack write');
      });
      const entry: PendingChunk = {
        idBuf,
        pack,
        pos,
        length: record.length,
        rawLength: record.rawLength,
        flags: record.flags,
        written,
        done: false,
      };
      this.pending.set(id, entry);
      try {
        await written;
      } catch (err) {
        if (this.pending.get(id) === entry) this.pending.delete(id);
        throw err;
      }
      entry.done = true;
      return { stored: true, storedBytes: record.length };
    });
  }

  get(id: ChunkId): Promise<Uint8Array> {
    return this.readRecord(id, (idBuf, record, loc) => this.decode(id, idBuf, record, loc.pack, loc.pos, loc.length));
  }

  getStored(id: ChunkId): Promise<StoredChunk> {
    return this.readRecord(id, (idBuf, record, loc) => {
      const details = { chunkId: id, pack: packName(loc.pack), offset: String(loc.pos) };
      if (record.length !== loc.length) throw new HavenError('CORRUPT', `chunk ${id} (${details.pack} at ${loc.pos}): pack ends inside the record`, { details });
      try {
        const opened = this.codec.open(idBuf, record);
        return { data: opened.payload, zstd: opened.zstd, rawLength: opened.rawLength };
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new HavenError('CORRUPT', `chunk ${id} (${details.pack} at ${loc.pos}): ${reason}`, { cause: err, details });
      }
    });
  }

  /** Looks `id` up (waiting for a pending write) and hands its record to `use`. */
  private readRecord<T>(id: ChunkId, use: (idBuf: Buffer, record: Buffer, loc: { pack: number; pos: number; length: number }) => T): Promise<T> {
    return this.run(async () => {
      const idBuf = parseId(id);
      for (;;) {
        const p = this.pending.get(id);
        if (p && !p.done) {
          await p.written;
          continue; // look up again: the entry may have been committed meanwhile
        }
        const row = p ? undefined : this.index.getChunk(idBuf);
        const loc = p ? { pack: p.pack.id, pos: p.pos, length: p.length } : row;
        if (!loc) throw new HavenError('NOT_FOUND', `chunk ${id} not found`, { details: { chunkId: id } });
        // The read takes its descriptor reference synchronously, in the same tick as the
        // lookup, so compaction cannot delete the pack in between.
        const record = await this.read(id, loc.pack, loc.pos, loc.length);
        return use(idBuf, record, loc);
      }
    });
  }

  has(ids: readonly ChunkId[]): Promise<boolean[]> {
    return this.run(async () => {
      if (!Array.isArray(ids)) throw new HavenError('INVALID_ARGUMENT', 'has() takes an array of chunk ids');
      return ids.map((id) => {
        const idBuf = parseId(id);
        if (this.pending.has(id)) return true;
        const row = this.index.getChunk(idBuf);
        if (!row) return false;
        this.touch(id, row.gen);
        return true;
      });
    });
  }

  sync(): Promise<void> {
    return this.run(() => {
      // Group commit: callers that arrive while a sync runs share the next one.
      if (this.syncQueued) return this.syncQueued;
      const next = this.syncChain.then(
        () => this.startSync(),
        () => this.startSync(),
      );
      this.syncQueued = next;
      this.syncChain = next;
      return next;
    });
  }

  async *list(): AsyncIterable<ChunkLocation> {
    let after: Buffer = Buffer.alloc(0);
    for (;;) {
      this.checkOpen();
      const rows = this.index.listPage(after, PAGE);
      for (const r of rows) {
        yield { id: r.id.toString('hex'), pack: packName(r.pack), offset: r.pos, length: r.length, rawLength: r.raw_length };
      }
      const last = rows.at(-1);
      if (rows.length < PAGE || !last) return;
      after = last.id;
    }
  }

  beginGcGeneration(): Promise<number> {
    return this.run(async () => {
      this.checkWritable();
      const next = this.generation + 1;
      this.index.setGeneration(next, this.clock.now());
      this.generation = next;
      return next;
    });
  }

  sweep(requested: number, isLive: (id: ChunkId) => boolean, options: SweepOptions = {}): Promise<SweepResult> {
    return this.run(() =>
      this.exclusive(async () => {
        this.checkWritable();
        if (!Number.isInteger(requested) || requested < 1 || requested > this.generation) {
          throw new HavenError('INVALID_ARGUMENT', `sweep generation must be one begun already (1..${this.generation})`);
        }
        const since = options.keepTouchedSinceMs;
        if (since !== undefined && !Number.isFinite(since)) throw new HavenError('INVALID_ARGUMENT', 'keepTouchedSinceMs must be a time in ms');
        // Generation g - 1 was current until g began: if that was after `since`, its chunks
        // may have been touched after it too, and are kept (down to generation 1, whose
        // successor's start is unknown only in stores older than this record: kept too).
        let generation = requested;
        if (since !== undefined) {
          while (generation > 1 && (this.index.generationStartedMs(generation) ?? Number.POSITIVE_INFINITY) > since) generation--;
        }
        let deletedChunks = 0;
        let deletedBytes = 0;
        let after: Buffer = Buffer.alloc(0);
        for (;;) {
          // Each page is decided and deleted within one tick, so no has() or put() can touch
          // a chunk between the liveness check and its deletion; the DELETE re-checks gen too.
          const rows = this.index.sweepCandidates(after, generation, PAGE);
          const last = rows.at(-1);
          if (!last) break;
          after = last.id;
          const dead = rows.filter((r) => {
            const hex = r.id.toString('hex');
            return !this.pending.has(hex) && (this.touches.get(hex) ?? 0) < generation && !isLive(hex);
          });
          const res = this.index.deleteOlder(dead, generation);
          deletedChunks += res.count;
          deletedBytes += res.bytes;
          await yieldToLoop();
        }
        return { deletedChunks, deletedBytes };
      }),
    );
  }

  compact(options: CompactOptions = {}): Promise<CompactResult> {
    return this.run(() =>
      this.exclusive(async () => {
        this.checkWritable();
        const minDeadRatio = options.minDeadRatio ?? 0.5;
        if (typeof minDeadRatio !== 'number' || !(minDeadRatio > 0 && minDeadRatio <= 1)) {
          throw new HavenError('INVALID_ARGUMENT', 'minDeadRatio must be in (0, 1]');
        }
        await this.sync();
        const live = this.index.liveBytesByPack();
        const candidates = [...this.packs.values()].filter((p) => {
          if (!p.sealed || p.dirty || p === this.open) return false;
          const body = p.size - PACK_HEADER_BYTES;
          return body <= 0 || 1 - (live.get(p.id) ?? 0) / body >= minDeadRatio;
        });
        let packsRewritten = 0;
        let packsDeleted = 0;
        let bytesFreed = 0;
        for (const pack of candidates) {
          const { copied, intact } = await this.copyLiveRecords(pack);
          if (copied > 0) {
            // Copies durable and index repointed (one commit) before the old pack goes.
            await this.sync();
            packsRewritten += 1;
          }
          if (!intact || this.index.countInPack(pack.id) > 0) continue;
          // Row first, file second: a crash in between leaves an unknown file, which the
          // next open deletes; the reverse order would leave a row without its file.
          this.index.deletePack(pack.id);
          this.packs.delete(pack.id);
          this.files.remove(pack.id);
          packsDeleted += 1;
          bytesFreed += pack.size - copied;
        }
        if (packsDeleted > 0) await fsyncDir(this.files.dir);
        return { packsRewritten, packsDeleted, bytesFreed };
      }),
    );
  }

  stats(): Promise<ChunkStoreStats> {
    return this.run(async () => {
      const t = this.index.totals();
      let { chunks, storedBytes, logicalBytes } = t;
      for (const p of this.pending.values()) {
        chunks += 1;
        storedBytes += p.length;
        logicalBytes += p.rawLength;
      }
      let packBytes = 0;
      for (const p of this.packs.values()) packBytes += p.size;
      return { chunks, storedBytes, logicalBytes, packs: this.packs.size, packBytes };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    this.files.closeAll();
    this.index.close();
  }

  // --- internals ---

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new HavenError('FAILED_PRECONDITION', 'chunk store is closed'));
    let p: Promise<T>;
    try {
      p = fn();
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  /** Sweep and compaction run one at a time (both walk and rewrite the index). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.gcChain.then(fn, fn);
    this.gcChain = next.catch(() => undefined);
    return next;
  }

  private checkOpen(): void {
    if (this.closed) throw new HavenError('FAILED_PRECONDITION', 'chunk store is closed');
  }

  private checkWritable(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * After a failed write or fsync the page cache may have dropped the data ("fsyncgate"),
   * so retrying is not safe: the store refuses writes until reopened, and reopening cuts
   * back to the last commit.
   */
  private fail(err: unknown, what: string): HavenError {
    this.failure ??= new HavenError('UNAVAILABLE', `chunk store ${what} failed; reopen the store to recover`, {
      cause: err,
    });
    return this.failure;
  }

  private touch(id: ChunkId, rowGen: number): void {
    if (rowGen < this.generation && (this.touches.get(id) ?? 0) < this.generation) this.touches.set(id, this.generation);
  }

  private async read(id: ChunkId, packId: number, pos: number, length: number): Promise<Buffer> {
    const details = { chunkId: id, pack: packName(packId), offset: String(pos) };
    try {
      return await this.files.read(packId, pos, length);
    } catch (err) {
      // A pack that cannot be opened is damage (CORRUPT); an I/O error may be transient.
      const code = err instanceof HavenError && err.code === 'CORRUPT' ? 'CORRUPT' : 'UNAVAILABLE';
      throw new HavenError(code, `chunk ${id}: reading ${details.pack} at ${pos} failed`, { cause: err, details });
    }
  }

  private decode(id: ChunkId, idBuf: Buffer, record: Buffer, packId: number, pos: number, length: number): Buffer {
    const details = { chunkId: id, pack: packName(packId), offset: String(pos) };
    const where = `chunk ${id} (${details.pack} at ${pos})`;
    if (record.length !== length) {
      throw new HavenError('CORRUPT', `${where}: pack ends inside the record`, { details });
    }
    let plaintext: Buffer;
    try {
      plaintext = this.codec.decode(idBuf, record);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new HavenError('CORRUPT', `${where}: ${reason}`, { cause: err, details });
    }
    if (chunkIdOf(plaintext) !== id) {
      throw new HavenError('CORRUPT', `${where}: plaintext does not hash to the chunk id`, { details });
    }
    return plaintext;
  }

  /** The pack the next record of `length` bytes goes to; seals and starts packs at the bound. */
  private packFor(length: number): Pack {
    const current = this.open;
    if (current && (current.size === PACK_HEADER_BYTES || current.size + length <= this.packSizeBytes)) return current;
    if (current) {
      current.sealed = true;
      current.dirty = true;
      this.open = undefined;
    }
    const id = this.nextPackId++;
    const path = this.files.path(id);
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx+', 0o600);
      const header = encodePackHeader();
      if (writeSync(fd, header, 0, header.length, 0) !== header.length) throw new Error('short write of the pack header');
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      throw this.fail(err, 'pack creation');
    }
    this.files.pin(id, fd);
    this.dirDirty = true;
    const pack: Pack = { id, createdMs: this.clock.now(), size: PACK_HEADER_BYTES, sealed: false, dirty: true };
    this.packs.set(id, pack);
    this.open = pack;
    return pack;
  }

  private startSync(): Promise<void> {
    this.syncQueued = undefined;
    return this.doSync();
  }

  private async doSync(): Promise<void> {
    this.checkWritable();
    // Snapshot: everything reserved up to now. Puts during the awaits below wait for the next sync.
    const batch = [...this.pending.entries()];
    const relocations = this.relocations;
    this.relocations = [];
    const packs = [...this.packs.values()].filter((p) => p.dirty);
    if (batch.length === 0 && relocations.length === 0 && packs.length === 0 && this.touches.size === 0) return;
    const packRows: PackRow[] = packs.map((p) => ({
      id: p.id,
      sealed: p.sealed ? 1 : 0,
      size: p.size,
      created_ms: p.createdMs,
    }));
    for (const p of packs) p.dirty = false;
    const dirDirty = this.dirDirty;
    this.dirDirty = false;
    try {
      await Promise.all([...batch.map(([, e]) => e.written), ...relocations.map((r) => r.written)]);
      await Promise.all(packs.map((p) => fdatasyncAsync(this.files.fdOf(p.id))));
      if (dirDirty) await fsyncDir(this.files.dir);
    } catch (err) {
      throw this.fail(err, 'sync');
    }
    const touches = this.touches;
    this.touches = new Map();
    try {
      this.index.commit({
        packs: packRows,
        chunks: batch.map(([, e]) => ({
          id: e.idBuf,
          pack: e.pack.id,
          pos: e.pos,
          length: e.length,
          rawLength: e.rawLength,
          flags: e.flags,
        })),
        relocations: relocations.map((r) => ({
          id: r.idBuf,
          fromPack: r.fromPack,
          fromPos: r.fromPos,
          toPack: r.to.id,
          toPos: r.toPos,
        })),
        touches,
        generation: this.generation,
      });
    } catch (err) {
      throw this.fail(err, 'index commit');
    }
    for (const [id, e] of batch) if (this.pending.get(id) === e) this.pending.delete(id);
    // A sealed pack whose seal is now committed is read-only: its descriptor may be evicted.
    for (const p of packs) if (p.sealed && !p.dirty) this.files.unpin(p.id);
  }

  /**
   * Copies the verified live records of `pack` to the open pack as pending relocations
   * (committed by the next sync). A record that fails verification stays where it is, and
   * so does its pack, for verify to report.
   */
  private async copyLiveRecords(pack: Pack): Promise<{ copied: number; intact: boolean }> {
    let copied = 0;
    let intact = true;
    for (const row of this.index.packChunks(pack.id)) {
      const id = row.id.toString('hex');
      let record: Buffer;
      try {
        record = await this.read(id, pack.id, row.pos, row.length);
        this.decode(id, row.id, record, pack.id, row.pos, row.length);
      } catch {
        intact = false;
        continue;
      }
      this.checkWritable();
      const to = this.packFor(row.length);
      const toPos = to.size;
      to.size += row.length;
      to.dirty = true;
      const written = this.writer.write(this.files.fdOf(to.id), [record], toPos, row.length).catch((err: unknown) => {
        throw this.fail(err, 'compaction write');
      });
      this.relocations.push({ idBuf: row.id, fromPack: pack.id, fromPos: row.pos, to, toPos, written });
      await written;
      copied += row.length;
    }
    return { copied, intact };
  }
}

function parseId(id: unknown): Buffer {
  if (typeof id !== 'string' || !isChunkId(id)) {
    throw new HavenError('INVALID_ARGUMENT', `not a chunk id: ${String(id).slice(0, 80)}`);
  }
  return Buffer.from(id, 'hex');
}
