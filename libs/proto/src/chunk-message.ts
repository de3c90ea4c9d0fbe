import type { DescField, DescMessage } from '@bufbuild/protobuf';
import { EncodedMessage } from './encoded-message.js';
import { ChunkSchema } from './gen/haven/v1/common_pb.js';
import type { Compression } from './gen/haven/v1/common_pb.js';

/** The fields of a haven.v1.Chunk, as the encoder takes them. */
export interface ChunkFields {
  readonly id: Uint8Array;
  readonly compression: Compression;
  readonly data: Uint8Array;
  readonly rawLength: number;
}

const LEN = 2;
const VARINT = 0;
// haven.v1.Chunk field numbers (common.proto); the test checks them against ChunkSchema.
const ID = 1;
const COMPRESSION = 2;
const DATA = 3;
const RAW_LENGTH = 4;

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v >>>= 7;
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, pos: number, v: number): number {
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

function chunkFieldOf(schema: DescMessage, fieldName: string): DescField {
  const field = schema.fields.find((f) => f.localName === fieldName);
  if (field === undefined || field.fieldKind !== 'message' || field.message.typeName !== ChunkSchema.typeName) {
    throw new TypeError(`${schema.typeName} has no ${ChunkSchema.typeName} field "${fieldName}"`);
  }
  return field;
}

/**
 * Encodes a message of `schema` whose only field set is `fieldName`, a haven.v1.Chunk (the
 * envelope of chunk bytes on the wire: UploadChunksRequest.chunk and the like). The bytes are
 * exactly what toBinary(schema, create(schema, ...)) writes, but built in one allocation of
 * the exact size with one copy of `data`. They own their ArrayBuffer (never a slice of
 * Buffer's shared pool), so a worker thread can build them and transfer them.
 */
export function encodeChunkMessage<Desc extends DescMessage>(schema: Desc, fieldName: string, chunk: ChunkFields): EncodedMessage<Desc> {
  const field = chunkFieldOf(schema, fieldName);
  const { id, compression, data, rawLength } = chunk;
  if (!Number.isInteger(rawLength) || rawLength < 0 || rawLength > 0xffffffff) throw new RangeError(`raw length ${rawLength} is not a uint32`);
  if (!Number.isInteger(compression) || compression < 0) throw new RangeError(`compression ${compression} is not a known value`);
  // proto3 implicit presence: default values are not written, as toBinary does.
  let inner = 0;
  if (id.length > 0) inner += 1 + varintSize(id.length) + id.length;
  if (compression !== 0) inner += 1 + varintSize(compression);
  if (data.length > 0) inner += 1 + varintSize(data.length) + data.length;
  if (rawLength !== 0) inner += 1 + varintSize(rawLength);
  const outerTag = (field.number << 3) | LEN;
  const out = Buffer.allocUnsafeSlow(varintSize(outerTag) + varintSize(inner) + inner);
  let pos = writeVarint(out, 0, outerTag);
  pos = writeVarint(out, pos, inner);
  if (id.length > 0) {
    out[pos++] = (ID << 3) | LEN;
    pos = writeVarint(out, pos, id.length);
    out.set(id, pos);
    pos += id.length;
  }
  if (compression !== 0) {
    out[pos++] = (COMPRESSION << 3) | VARINT;
    pos = writeVarint(out, pos, compression);
  }
  if (data.length > 0) {
    out[pos++] = (DATA << 3) | LEN;
    pos = writeVarint(out, pos, data.length);
    out.set(data, pos);
    pos += data.length;
  }
  if (rawLength !== 0) {
    out[pos++] = (RAW_LENGTH << 3) | VARINT;
    pos = writeVarint(out, pos, rawLength);
  }
  return new EncodedMessage(schema, out);
}
