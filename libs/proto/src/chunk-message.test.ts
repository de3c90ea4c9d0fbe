import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { encodeChunkMessage } from './chunk-message.js';
import type { ChunkFields } from './chunk-message.js';
import { ChunkSchema, Compression } from './gen/haven/v1/common_pb.js';
import { DownloadChunksResponseSchema, UploadChunksRequestSchema } from './gen/haven/v1/agent_pb.js';

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const cases: Array<[string, ChunkFields]> = [
  ['a typical zstd chunk', { id: bytes(32), compression: Compression.ZSTD, data: bytes(700_000), rawLength: 1_048_576 }],
  ['a raw chunk of 4 MiB', { id: bytes(32, 7), compression: Compression.NONE, data: bytes(4 * 1024 * 1024), rawLength: 4 * 1024 * 1024 }],
  ['a one-byte chunk', { id: bytes(32, 3), compression: Compression.NONE, data: bytes(1), rawLength: 1 }],
  ['length prefixes at varint boundaries', { id: bytes(32), compression: Compression.ZSTD, data: bytes(127), rawLength: 128 }],
  ['default values left out', { id: new Uint8Array(0), compression: Compression.UNSPECIFIED, data: new Uint8Array(0), rawLength: 0 }],
];

describe('encodeChunkMessage', () => {
  it('uses the field numbers of haven.v1.Chunk', () => {
    expect(ChunkSchema.fields.map((f) => [f.localName, f.number])).toEqual([
      ['id', 1],
      ['compression', 2],
      ['data', 3],
      ['rawLength', 4],
    ]);
  });

  it.each(cases)('writes what toBinary writes: %s', (_name, chunk) => {
    const encoded = encodeChunkMessage(UploadChunksRequestSchema, 'chunk', chunk);
    const expected = toBinary(UploadChunksRequestSchema, create(UploadChunksRequestSchema, { msg: { case: 'chunk', value: chunk } }));
    expect(Buffer.from(encoded.bytes).equals(Buffer.from(expected))).toBe(true);
    expect(encoded.schema).toBe(UploadChunksRequestSchema);
    const back = fromBinary(UploadChunksRequestSchema, encoded.bytes);
    if (back.msg.case !== 'chunk') throw new Error(`decoded a ${String(back.msg.case)} message`);
    const got = back.msg.value;
    // Buffer comparison: a deep equality over megabyte arrays is slow.
    expect(Buffer.from(got.id).equals(Buffer.from(chunk.id))).toBe(true);
    expect(Buffer.from(got.data).equals(Buffer.from(chunk.data))).toBe(true);
    expect([got.compression, got.rawLength]).toEqual([chunk.compression, chunk.rawLength]);
  });

  it('encodes a plain (non-oneof) Chunk field too', () => {
    const chunk = cases[0]![1];
    const encoded = encodeChunkMessage(DownloadChunksResponseSchema, 'chunk', chunk);
    const expected = toBinary(DownloadChunksResponseSchema, create(DownloadChunksResponseSchema, { chunk }));
    expect(Buffer.from(encoded.bytes).equals(Buffer.from(expected))).toBe(true);
  });

  it('gives bytes that own their ArrayBuffer, so they can be transferred', () => {
    const encoded = encodeChunkMessage(UploadChunksRequestSchema, 'chunk', cases[2]![1]);
    expect(encoded.bytes.byteOffset).toBe(0);
    expect(encoded.bytes.buffer.byteLength).toBe(encoded.bytes.byteLength);
  });

  it('refuses a field that is not a Chunk, and values out of range', () => {
    expect(() => encodeChunkMessage(UploadChunksRequestSchema, 'open', cases[0]![1])).toThrow(/no haven.v1.Chunk field "open"/);
    expect(() => encodeChunkMessage(UploadChunksRequestSchema, 'chunk', { ...cases[0]![1], rawLength: -1 })).toThrow(RangeError);
    expect(() => encodeChunkMessage(UploadChunksRequestSchema, 'chunk', { ...cases[0]![1], rawLength: 2 ** 32 })).toThrow(RangeError);
  });
});
