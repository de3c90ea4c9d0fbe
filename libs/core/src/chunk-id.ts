import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';
import { HavenError } from './errors.js';

/** Length in bytes of a chunk id (BLAKE3-256). */
export const CHUNK_ID_BYTES = 32;

/**
 * A chunk id: BLAKE3-256 of the chunk's plaintext, as 64 lowercase hex characters.
 * Hex strings are used as ids throughout (map keys, SQLite keys, logs); the wire carries
 * the 32 raw bytes.
 */
export type ChunkId = string;

/** BLAKE3-256 of `data` as a ChunkId. Pure computation (a native hash), no I/O. */
export function chunkIdOf(data: Uint8Array): ChunkId {
  return blake3(data).toString('hex');
}

/** BLAKE3-256 of `data` as raw bytes. */
export function chunkIdBytesOf(data: Uint8Array): Uint8Array {
  return blake3(data);
}

/** Incremental BLAKE3 for data that arrives in pieces. */
export interface IncrementalHasher {
  update(data: Uint8Array): void;
  digestHex(): ChunkId;
}

export function createHasher(): IncrementalHasher {
  const h = new Blake3Hasher();
  return {
    update: (data) => {
      h.update(data);
    },
    digestHex: () => h.digest('hex'),
  };
}

const HEX_ID = /^[0-9a-f]{64}$/;

export function isChunkId(value: string): boolean {
  return HEX_ID.test(value);
}

/** Raw 32 bytes from the wire -> ChunkId; INVALID_ARGUMENT when the length is wrong. */
export function chunkIdFromBytes(bytes: Uint8Array): ChunkId {
  if (bytes.length !== CHUNK_ID_BYTES) {
    throw new HavenError('INVALID_ARGUMENT', `chunk id must be ${CHUNK_ID_BYTES} bytes, got ${bytes.length}`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** ChunkId -> raw 32 bytes for the wire; INVALID_ARGUMENT when it is not 64 hex chars. */
export function chunkIdToBytes(id: ChunkId): Uint8Array {
  if (!HEX_ID.test(id)) throw new HavenError('INVALID_ARGUMENT', `not a chunk id: ${id.slice(0, 80)}`);
  return new Uint8Array(Buffer.from(id, 'hex'));
}
