import zstd from 'zstd-napi/binding.js';
import {
  EMPTY_CONTENT_ROOT,
  HavenError,
  LIST_CHUNK_MAX_BYTES,
  chunkIdOf,
  iterateContentRoot,
  zstdFrameContentSize,
} from '@haven/core';
import type { ChunkId, Clock } from '@haven/core';
import type { Catalog, Change, CommitResult, ProtectionSet } from '../catalog/catalog.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { ChunkScope } from './chunk-scope.js';
import type { RwLock } from './rw-lock.js';
import { createUnzstdPool } from './unzstd-pool.js';

/** Largest chunk accepted: FastCDC's max and the largest list chunk. */
export const MAX_CHUNK_BYTES = Math.max(4 * 1024 * 1024, LIST_CHUNK_MAX_BYTES);
/** Largest find-missing batch. */
export const MAX_FIND_MISSING_IDS = 4096;
/** Missing ids listed in a FAILED_PRECONDITION commit answer (the agent re-checks them all). */
const MISSING_LISTED = 256;

export interface UploadedChunk {
  id: ChunkId;
  compressed: boolean;
  data: Uint8Array;
  rawLength: number;
}

export interface Ingest {
  /** Indexes of `ids` that `set` must upload. */
  findMissing(set: ProtectionSet, ids: readonly ChunkId[]): Promise<number[]>;
  /** Verifies one uploaded chunk against its id and stores it; CORRUPT stores nothing. */
  accept(set: ProtectionSet, chunk: UploadedChunk): Promise<{ storedBytes: number }>;
  /**
   * Commits a batch: every chunk its content roots reach must be stored and in the set's
   * scope (FAILED_PRECONDITION listing missing ids otherwise); packs are made durable
   * first, then the journal entry and versions in one catalog transaction. Only then
   * does it resolve, so a resolved commit survives kill -9.
   */
  commit(request: {
    set: ProtectionSet;
    epoch: number;
    batchId: string;
    changes: readonly Change[];
    label?: string;
  }): Promise<CommitResult>;
  /** Stops the verification threads. */
  close(): Promise<void>;
}

export function createIngest(deps: {
  store: ChunkStore;
  catalog: Catalog;
  scope: ChunkScope;
  gcLock: RwLock;
  clock: Clock;
  /** Threads that decompress and hash uploaded zstd chunks (0: on the calling thread). */
  verifyThreads?: number;
}): Ingest {
  const { store, catalog, scope, gcLock } = deps;
  const dctx = new zstd.DCtx();
  /**
   * Where compressed chunks are decompressed to be hashed. One buffer serves every chunk: the
   * plaintext is hashed and handed to store.put() in the same turn, and put() is done with
   * it when it returns (ChunkData). A fresh megabyte per chunk would be external memory that
   * the GC answers with a full collection every few dozen chunks.
   */
  let scratch = new Uint8Array(0);

  function checkLimits(chunk: UploadedChunk): void {
    if (chunk.rawLength > MAX_CHUNK_BYTES) {
      throw new HavenError('RESOURCE_EXHAUSTED', `chunk ${chunk.id} is ${chunk.rawLength} bytes; the limit is ${MAX_CHUNK_BYTES}`);
    }
    if (chunk.compressed) {
      // Check the declared size before decompressing: a small frame can claim gigabytes.
      const declared = zstdFrameContentSize(chunk.data);
      if (declared !== chunk.rawLength) {
        throw new HavenError('CORRUPT', `chunk ${chunk.id}: zstd frame declares ${String(declared)} bytes, raw_length says ${chunk.rawLength}`);
      }
    }
  }

  /** Decompresses a frame of exactly `rawLength` bytes into `scratch`: a view valid until the next call. */
  function unzstdHere(frame: Uint8Array, rawLength: number, what: string): { raw: Uint8Array; id: ChunkId } {
    // At most MAX_CHUNK_BYTES (checked before).
    if (scratch.length < rawLength) scratch = new Uint8Array(rawLength);
    let raw: Uint8Array;
    try {
      // Room for exactly rawLength bytes: a frame that holds more fails here ("too small").
      raw = scratch.subarray(0, dctx.decompress(scratch.subarray(0, rawLength), frame));
    } catch (err) {
      throw new HavenError('CORRUPT', `${what}: data does not decompress`, { cause: err });
    }
    return { raw, id: chunkIdOf(raw) };
  }

  const pool = (deps.verifyThreads ?? 0) > 0 ? createUnzstdPool({ threads: deps.verifyThreads ?? 0, fallback: unzstdHere }) : undefined;

  /** Refuses plaintext that is not what the chunk claims. */
  function checkPlain(chunk: UploadedChunk, raw: Uint8Array, actual: ChunkId): void {
    if (raw.length !== chunk.rawLength) {
      throw new HavenError('CORRUPT', `chunk ${chunk.id}: ${raw.length} bytes, raw_length says ${chunk.rawLength}`);
    }
    if (actual !== chunk.id) {
      throw new HavenError('CORRUPT', `chunk ${chunk.id}: content hashes to ${actual}; refused`, { details: { chunkId: chunk.id } });
    }
  }

  /**
   * Verifies a chunk and hands its plaintext to `use` (valid only during use's synchronous
   * part: it may live in reused memory). Compressed chunks are decompressed and hashed on
   * the pool's threads when there is one.
   */
  async function verified<T>(chunk: UploadedChunk, use: (raw: Uint8Array) => T): Promise<T> {
    checkLimits(chunk);
    const check = (raw: Uint8Array, id: ChunkId): T => {
      checkPlain(chunk, raw, id);
      return use(raw);
    };
    if (!chunk.compressed) return check(chunk.data, chunkIdOf(chunk.data));
    const what = `chunk ${chunk.id}`;
    if (pool !== undefined) return pool.run(what, chunk.data, chunk.rawLength, check);
    const r = unzstdHere(chunk.data, chunk.rawLength, what);
    return check(r.raw, r.id);
  }

  /** Every chunk a content root reaches (list chunks and data chunks) that the set lacks. */
  async function missingUnder(set: ProtectionSet, roots: ReadonlySet<ChunkId>): Promise<ChunkId[]> {
    const missing: ChunkId[] = [];
    const seen = new Set<ChunkId>();
    const check = async (ids: ChunkId[]): Promise<void> => {
      const fresh = ids.filter((id) => !seen.has(id));
      for (const id of fresh) seen.add(id);
      if (fresh.length === 0) return;
      const inScope = scope.has(set.name, fresh);
      const stored = await store.has(fresh);
      fresh.forEach((id, i) => {
        if (!inScope[i] || !stored[i]) missing.push(id);
      });
    };
    for (const root of roots) {
      if (root === EMPTY_CONTENT_ROOT.id) continue;
      const listIds: ChunkId[] = [];
      // A fetch through the scope check: the walk reads list chunks only if the set holds them.
      const fetch = async (id: ChunkId): Promise<Uint8Array> => {
        listIds.push(id);
        const [ok] = scope.has(set.name, [id]);
        if (ok !== true) throw new HavenError('FAILED_PRECONDITION', `missing list chunk ${id}`, { details: { missing: id } });
        return store.get(id);
      };
      try {
        for await (const batch of iterateContentRoot(root, fetch)) await check(batch.map((r) => r.id));
        await check(listIds);
      } catch (err) {
        const m = err instanceof HavenError ? err.details['missing'] : undefined;
        if (m !== undefined) missing.push(m);
        else if (err instanceof HavenError && err.code === 'NOT_FOUND') missing.push(listIds[listIds.length - 1] ?? root);
        else throw err;
      }
    }
    return missing;
  }

  return {
    async findMissing(set, ids) {
      if (ids.length > MAX_FIND_MISSING_IDS) {
        throw new HavenError('RESOURCE_EXHAUSTED', `find-missing takes at most ${MAX_FIND_MISSING_IDS} ids per call, got ${ids.length}`);
      }
      const inScope = scope.has(set.name, ids);
      // has() also marks present chunks with the current GC generation, so a GC whose mark has
      // already begun keeps a chunk we tell the agent not to send. A GC that begins after this
      // answer sweeps it unless a commit references it by then: that commit is refused with
      // FAILED_PRECONDITION naming it, and the agent uploads it again.
      const stored = await store.has(ids);
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) if (!inScope[i] || !stored[i]) out.push(i);
      return out;
    },

    async accept(set, chunk) {
      // put() is called within verified()'s callback: `raw` may be reused memory, and put()
      // is done with it when it returns. An agent uploads a chunk raw exactly when zstd did
      // not shrink it, so the store need not try again; an agent that lies only costs space.
      const res = await verified(chunk, (raw) => store.put(chunk.id, chunk.compressed ? { raw, zstd: chunk.data } : { raw, incompressible: true }));
      scope.add(set.name, [chunk.id]);
      return { storedBytes: res.storedBytes };
    },

    close: async () => {
      await pool?.close();
    },

    async commit(req) {
      const roots = new Set<ChunkId>();
      for (const c of req.changes) if (c.op === 'put' && c.contentRoot != null) roots.add(c.contentRoot);
      return gcLock.shared(async () => {
        const missing = await missingUnder(req.set, roots);
        if (missing.length > 0) {
          throw new HavenError(
            'FAILED_PRECONDITION',
            `commit references ${missing.length} chunk(s) this set has not uploaded`,
            { details: { missingCount: String(missing.length), missing: missing.slice(0, MISSING_LISTED).join(',') } },
          );
        }
        await store.sync();
        return catalog.commit({
          setName: req.set.name,
          epoch: req.epoch,
          batchId: req.batchId,
          changes: req.changes,
          ...(req.label === undefined || req.label === '' ? {} : { label: req.label }),
        });
      });
    },
  };
}
