import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';
import { HavenError, chunkIdOf, chunkIdToBytes } from '@haven/core';
import { ChunkSchema, Compression } from '@haven/proto';
import { decodeWireChunk } from './wire-chunk.js';

const text = Buffer.from('restore me '.repeat(20_000));
const id = chunkIdOf(text);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof HavenError ? err.code : 'not a HavenError';
  }
}

describe('decodeWireChunk', () => {
  it('gives the plaintext of a raw or a zstd chunk', () => {
    const raw = create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.NONE, data: text, rawLength: text.length });
    expect(Buffer.from(decodeWireChunk(raw, id)).equals(text)).toBe(true);
    const z = create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.ZSTD, data: compress(text), rawLength: text.length });
    expect(Buffer.from(decodeWireChunk(z, id)).equals(text)).toBe(true);
  });

  it('refuses what does not keep the chunk invariants', () => {
    const other = randomBytes(1000);
    const frame = compress(text);
    const cases = [
      undefined,
      create(ChunkSchema, { id: chunkIdToBytes(chunkIdOf(other)), compression: Compression.NONE, data: other, rawLength: other.length }),
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.NONE, data: text, rawLength: text.length - 1 }),
      // A frame that holds more than the declared length, or a second frame after it.
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.ZSTD, data: frame, rawLength: text.length - 1 }),
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.ZSTD, data: Buffer.concat([frame, frame]), rawLength: text.length }),
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.ZSTD, data: randomBytes(500), rawLength: text.length }),
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: 7 as Compression, data: frame, rawLength: text.length }),
      create(ChunkSchema, { id: chunkIdToBytes(id), compression: Compression.NONE, data: text, rawLength: 5 * 1024 * 1024 }),
    ];
    expect(cases.map((c) => codeOf(() => decodeWireChunk(c, id)))).toEqual(cases.map(() => 'CORRUPT'));
  });
});
