import type { ChunkId } from '@haven/core';

/**
 * A chunk to store: its plaintext, and optionally an already zstd-compressed form of it.
 * put() is done with these bytes when it returns (before its promise settles): the caller may
 * reuse their memory right away.
 */
export interface ChunkData {
  /** The plaintext; the caller has verified that `chunkIdOf(raw)` is the id it stores under. */
  readonly raw: Uint8Array;
  /**
   * A single zstd frame that decompresses to `raw` (the agent compresses before upload and
   * the rpc handler decompresses to verify the id), so the store need not compress again.
   */
  readonly zstd?: Uint8Array | undefined;
  /**
   * The sender already found that zstd does not shrink `raw` (an agent uploads a chunk raw
   * exactly then), so the store keeps it raw without compressing it again. Only a hint about
   * space: a wrong one stores a compressible chunk uncompressed, and reads stay exact.
   */
  readonly incompressible?: boolean | undefined;
}

/** A chunk in its stored form: its zstd frame when stored compressed, else its plaintext. */
export interface StoredChunk {
  readonly data: Uint8Array;
  readonly zstd: boolean;
  /** Length of the plaintext. */
  readonly rawLength: number;
}

export interface PutResult {
  /** False when the chunk was already present (or being stored by a concurrent put). */
  readonly stored: boolean;
  /** Bytes this put added to the store (record framing included); 0 when not stored. */
  readonly storedBytes: number;
}

/** Where a chunk lives; `pack` and `offset` identify the record in diagnostics. */
export interface ChunkLocation {
  readonly id: ChunkId;
  readonly pack: string;
  readonly offset: number;
  /** Stored record length in bytes (framing, nonce and tag included). */
  readonly length: number;
  /** Plaintext length in bytes. */
  readonly rawLength: number;
}

export interface SweepResult {
  readonly deletedChunks: number;
  /** Stored bytes of the deleted chunks, reclaimed on disk only by compact(). */
  readonly deletedBytes: number;
}

export interface SweepOptions {
  /**
   * Also keep every chunk that may have been put or has()-hit at or after this time
   * (epoch ms), live or not: the chunks of an upload still in progress, whose commit is
   * yet to come. The store knows when each generation began, so it keeps every generation
   * that was still current at that time.
   */
  readonly keepTouchedSinceMs?: number;
}

export interface CompactOptions {
  /** Rewrite a pack when at least this fraction of its bytes is dead (0 < r <= 1; default 0.5). */
  readonly minDeadRatio?: number;
}

export interface CompactResult {
  readonly packsRewritten: number;
  readonly packsDeleted: number;
  /** Disk bytes released (deleted pack files minus the live bytes copied out of them). */
  readonly bytesFreed: number;
}

export interface ChunkStoreStats {
  /** Chunks visible to get()/has(), synced or not. */
  readonly chunks: number;
  /** Stored bytes of those chunks (after compression, with framing). */
  readonly storedBytes: number;
  /** Plaintext bytes of those chunks. */
  readonly logicalBytes: number;
  readonly packs: number;
  /** Bytes of all pack files, dead records included (compare with storedBytes for waste). */
  readonly packBytes: number;
}

/**
 * Content-addressed chunk storage: id = BLAKE3-256 of the plaintext.
 *
 * The contract every implementation keeps (checked by describeChunkStoreContract):
 *
 * - **Read-after-write.** Once put() resolves, get() returns the chunk and has() reports it,
 *   in this process, before and after sync().
 * - **No partial writes visible.** A chunk is either absent (NOT_FOUND, has() false) or
 *   whole; an interrupted put never surfaces as a truncated chunk, not even after a crash.
 * - **Idempotent put.** Putting an id that is present is a no-op ({stored: false}); any
 *   number of concurrent puts of one id store it once.
 * - **put() borrows its bytes only for the call.** Once put() returns, the caller may
 *   overwrite the buffers of ChunkData (an rpc handler decompresses every chunk into one
 *   buffer); the stored chunk does not change.
 * - **Durability only after sync().** When sync() resolves, every chunk whose put() resolved
 *   before sync() was called survives a crash (kill -9, power loss). Puts never synced may
 *   vanish after a crash or close(); they never come back corrupt. Callers group many puts
 *   into one sync() (group commit) and ack upstream only after it resolves.
 * - **Verified reads.** get() authenticates, decompresses and re-hashes; anything that does
 *   not yield exactly the plaintext of `id` throws CORRUPT with details {chunkId, pack, offset}.
 * - **Errors** are HavenErrors: INVALID_ARGUMENT (malformed id or data), NOT_FOUND, CORRUPT,
 *   UNAVAILABLE (the store failed a write or fsync and must be reopened; reads still work).
 *
 * Garbage collection runs while ingest continues (mark-and-sweep with generations):
 * 1. `G = await beginGcGeneration()`;
 * 2. the caller marks: collects the live ids from the catalog, reading it after step 1;
 * 3. `sweep(G, isLive)` deletes every chunk that is not live and was not put or has()-hit at
 *    generation >= G. So a chunk uploaded, or deduplicated through has(), after the mark
 *    started survives even though the mark did not see the commit that references it.
 *    The caller must make "has() the chunks of a commit, then commit" atomic with respect to
 *    step 1 (for example by checking the commit's chunks with has() under the same lock that
 *    step 1 takes), or a commit whose has() preceded step 1 may land after the mark.
 * 4. `compact()` reclaims the disk space of deleted chunks.
 */
export interface ChunkStore {
  /** Stores `data` under `id` (see ChunkData for what the caller guarantees). */
  put(id: ChunkId, data: ChunkData): Promise<PutResult>;

  /** The verified plaintext of `id`; NOT_FOUND when absent, CORRUPT when damaged. */
  get(id: ChunkId): Promise<Uint8Array>;

  /**
   * `id` as stored, authenticated but not decompressed: for a reader that decompresses
   * and verifies the plaintext itself (a restoring agent), so the bytes cross the network
   * compressed and the store spends nothing on them. NOT_FOUND and CORRUPT as get().
   */
  getStored(id: ChunkId): Promise<StoredChunk>;

  /** Which ids are present; each present id is marked touched at the current GC generation. */
  has(ids: readonly ChunkId[]): Promise<boolean[]>;

  /** Makes every chunk put so far durable (see the contract above). */
  sync(): Promise<void>;

  /**
   * Every synced chunk, each once, in id order. Chunks put, synced or deleted while the
   * iteration runs may or may not appear. Verify = list() + get().
   */
  list(): AsyncIterable<ChunkLocation>;

  /** Starts a GC generation and returns its number; generations only grow, across restarts too. */
  beginGcGeneration(): Promise<number>;

  /**
   * Deletes the chunks that are neither live nor put/touched at generation >= `generation`
   * (nor, with `keepTouchedSinceMs`, at a generation still current at that time).
   */
  sweep(generation: number, isLive: (id: ChunkId) => boolean, options?: SweepOptions): Promise<SweepResult>;

  /** Rewrites storage to drop deleted chunks; live chunks stay readable throughout. */
  compact(options?: CompactOptions): Promise<CompactResult>;

  stats(): Promise<ChunkStoreStats>;

  /**
   * Waits for running operations and releases files. It does NOT sync: puts not synced are
   * dropped as by a crash. Any call after close() throws FAILED_PRECONDITION.
   */
  close(): Promise<void>;
}
