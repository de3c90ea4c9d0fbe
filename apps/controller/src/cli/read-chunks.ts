import { HavenError, chunkIdToBytes } from '@haven/core';
import { decodeWireChunk } from '@haven/restore';
import type { FetchChunks } from '@haven/restore';
import type { AdminClient } from './context.js';

/** Counts what crossed the wire, for the restore report. */
export interface FetchStats {
  fetchedBytes: number;
}

/** A `FetchChunks` over AdminService.ReadChunks: one stream per batch, chunks in request order. */
export function createReadChunksFetch(admin: AdminClient, set: string, stats: FetchStats): FetchChunks {
  return async (ids) => {
    const out: Uint8Array[] = [];
    for await (const res of admin.readChunks({ set, ids: ids.map(chunkIdToBytes) })) {
      const expected = ids[out.length];
      if (expected === undefined) throw new HavenError('CORRUPT', `ReadChunks sent more than the ${ids.length} chunks asked for`);
      stats.fetchedBytes += res.chunk?.data.length ?? 0;
      out.push(decodeWireChunk(res.chunk, expected));
    }
    if (out.length !== ids.length) throw new HavenError('CORRUPT', `ReadChunks sent ${out.length} of ${ids.length} chunks`);
    return out;
  };
}
