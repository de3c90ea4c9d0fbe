import { HavenError, errorCodeOf } from '@haven/core';
import type { ChunkId } from '@haven/core';

/** Fetches chunks by id: their plaintext, one per id, in request order (e.g. over ReadChunks). */
export type FetchChunks = (ids: readonly ChunkId[]) => Promise<Uint8Array[]>;

export interface ChunkBatcherOptions {
  /** Most ids per request (ReadChunks accepts up to 1024). Default 256. */
  maxIds?: number;
  /** Most expected plaintext bytes per request. Default 8 MiB. */
  maxBytes?: number;
  /** Requests in flight at once. Default 4. */
  maxInFlight?: number;
}

/** Hands out single chunks while sending them to `fetch` in batches, several batches at a time. */
export interface ChunkBatcher {
  /** One chunk's plaintext (not verified here); `sizeHint` is its expected length, for batch sizing. */
  get(id: ChunkId, sizeHint: number): Promise<Uint8Array>;
}

interface Waiter {
  readonly id: ChunkId;
  readonly size: number;
  /** Sent in a batch of its own: after a batch failed, to find which chunk it was. */
  readonly alone: boolean;
  resolve(bytes: Uint8Array): void;
  reject(err: unknown): void;
}

/** Failures that belong to particular chunks rather than to the connection. */
const PER_CHUNK_CODES = new Set(['CORRUPT', 'NOT_FOUND']);

/**
 * Coalesces chunk requests from many concurrent file writers into few round trips. A request
 * made while every slot is busy waits and joins the next batch, so batches grow exactly when
 * the link is the bottleneck. Requests for a chunk already pending share one fetch. A
 * ReadChunks stream fails as a whole for one bad id, so a failed multi-chunk batch is retried
 * one chunk at a time: only the writers of the damaged chunk see the error.
 */
export function createChunkBatcher(fetch: FetchChunks, options: ChunkBatcherOptions = {}): ChunkBatcher {
  const maxIds = options.maxIds ?? 256;
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  const maxInFlight = options.maxInFlight ?? 4;
  const queue: Waiter[] = [];
  const pending = new Map<ChunkId, Promise<Uint8Array>>();
  let inFlight = 0;
  let kicked = false;

  const kick = (): void => {
    if (kicked) return;
    kicked = true;
    // Deferred so that requests made in the same turn share a batch.
    queueMicrotask(() => {
      kicked = false;
      pump();
    });
  };

  const pump = (): void => {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch: Waiter[] = [];
      let bytes = 0;
      while (queue.length > 0 && batch.length < maxIds) {
        const next = queue[0]!;
        if (batch.length > 0 && (next.alone || batch[0]!.alone || bytes + next.size > maxBytes)) break;
        batch.push(queue.shift()!);
        bytes += next.size;
      }
      inFlight++;
      void send(batch).finally(() => {
        inFlight--;
        kick();
      });
    }
  };

  const send = async (batch: Waiter[]): Promise<void> => {
    let results: Uint8Array[];
    try {
      results = await fetch(batch.map((w) => w.id));
      if (results.length !== batch.length) {
        throw new HavenError('CORRUPT', `asked for ${batch.length} chunks, received ${results.length}`);
      }
    } catch (err) {
      if (batch.length > 1 && PER_CHUNK_CODES.has(errorCodeOf(err))) {
        queue.unshift(...batch.map((w) => ({ ...w, alone: true })));
      } else {
        for (const w of batch) w.reject(err);
      }
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  };

  return {
    get(id, sizeHint) {
      const shared = pending.get(id);
      if (shared !== undefined) return shared;
      const p = new Promise<Uint8Array>((resolve, reject) => {
        queue.push({ id, size: Math.max(1, sizeHint), alone: false, resolve, reject });
      });
      pending.set(id, p);
      const forget = (): void => {
        pending.delete(id);
      };
      p.then(forget, forget);
      kick();
      return p;
    },
  };
}
