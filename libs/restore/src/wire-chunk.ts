import zstd from 'zstd-napi/binding.js';
import { HavenError, chunkIdFromBytes } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { Compression } from '@haven/proto';
import type { Chunk } from '@haven/proto';

/** Largest chunk plaintext on the wire (common.proto). */
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

let dctx: InstanceType<typeof zstd.DCtx> | undefined;

/**
 * The plaintext of a chunk received from a controller, checked against the Chunk invariants
 * of common.proto (expected id, declared length, payload no longer than the plaintext).
 * Decompression writes into a buffer of exactly `raw_length` bytes, so a frame that claims or
 * produces more is refused instead of allocating what it asks for. The content hash is left to
 * the caller, which verifies it where the bytes are used.
 */
export function decodeWireChunk(chunk: Chunk | undefined, expected: ChunkId): Uint8Array {
  if (chunk === undefined) throw new HavenError('CORRUPT', `chunk ${expected}: response carries no chunk`);
  const id = chunkIdFromBytes(chunk.id);
  if (id !== expected) throw new HavenError('CORRUPT', `asked for chunk ${expected}, received ${id}`);
  const raw = chunk.rawLength;
  if (raw > MAX_CHUNK_BYTES) throw new HavenError('CORRUPT', `chunk ${id}: raw length ${raw} exceeds ${MAX_CHUNK_BYTES}`);
  if (chunk.compression === Compression.NONE) {
    if (chunk.data.length !== raw) throw new HavenError('CORRUPT', `chunk ${id}: ${chunk.data.length} bytes, raw length says ${raw}`);
    return chunk.data;
  }
  if (chunk.compression !== Compression.ZSTD) throw new HavenError('CORRUPT', `chunk ${id}: unknown compression ${chunk.compression}`);
  if (chunk.data.length > raw) throw new HavenError('CORRUPT', `chunk ${id}: compressed form is longer than its plaintext`);
  // Not from the shared pool: the chunk may be kept, and must not pin other memory.
  const out = Buffer.allocUnsafeSlow(raw);
  let produced: number;
  try {
    dctx ??= new zstd.DCtx();
    produced = dctx.decompress(out, chunk.data);
  } catch (err) {
    throw new HavenError('CORRUPT', `chunk ${id}: does not decompress to ${raw} bytes`, { cause: err });
  }
  if (produced !== raw) throw new HavenError('CORRUPT', `chunk ${id}: decompresses to ${produced} bytes, raw length says ${raw}`);
  return new Uint8Array(out.buffer, out.byteOffset, produced);
}
