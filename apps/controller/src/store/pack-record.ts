import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Decompressor } from 'zstd-napi';
import { HavenError, createZstdCompressor } from '@haven/core';

/*
 * Pack file layout: a 16-byte pack header, then records back to back.
 *
 *   pack header   0   8  magic "HVNPACK\0"
 *                 8   4  format version (u32 LE) = 1
 *                12   4  reserved, 0
 *
 *   record        0   4  magic "HVCR"
 *                 4   1  record version = 1
 *                 5   1  flags: bit 0 = payload is a zstd frame; other bits 0
 *                 6   2  reserved, 0
 *                 8  32  chunk id (BLAKE3-256 of the plaintext)
 *                40   4  raw length (u32 LE): plaintext bytes
 *                44   4  stored length n (u32 LE): payload bytes, tag excluded
 *                48  12  AES-GCM nonce, random per record
 *                60   4  CRC-32 of bytes 0..60
 *                64   n  AES-256-GCM ciphertext of the payload (zstd frame or raw plaintext)
 *              64+n  16  GCM tag
 *
 * The whole 64-byte header is the GCM additional data, so the chunk id, flags and lengths
 * are authenticated with the payload: a record moved under another id, or an edited header,
 * fails authentication. The header CRC frames records without the key (a scan can walk a
 * pack and tell a torn tail from a record), the tag authenticates everything else. A record
 * carries no location, so compaction copies records between packs byte for byte.
 *
 * The chunk id sits in the clear in the header, as it does in the index: ids are content
 * addresses Haven already exchanges on the wire and keeps in the catalog, not secrets.
 *
 * Nonces are random: with 96-bit random nonces one key stays within NIST SP 800-38D's
 * 2^-32 collision bound for 2^32 records, i.e. about 4 PiB of 1 MiB chunks.
 */

export const PACK_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 64;
export const RECORD_TAG_BYTES = 16;
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + RECORD_TAG_BYTES;
/** Largest plaintext a record holds; FastCDC's maximum is 4 MiB, this leaves headroom. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

export const FLAG_ZSTD = 1;

const PACK_MAGIC = Buffer.from('HVNPACK\0', 'latin1');
const PACK_VERSION = 1;
const RECORD_MAGIC = 0x52435648; // "HVCR" read as u32 LE
const RECORD_VERSION = 1;
const NONCE_BYTES = 12;
const HEADER_CRC_OFFSET = 60;

export function encodePackHeader(): Buffer {
  const header = Buffer.alloc(PACK_HEADER_BYTES);
  PACK_MAGIC.copy(header, 0);
  header.writeUInt32LE(PACK_VERSION, 8);
  return header;
}

export function isPackHeader(bytes: Uint8Array): boolean {
  if (bytes.length < PACK_HEADER_BYTES) return false;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.subarray(0, 8).equals(PACK_MAGIC) && buf.readUInt32LE(8) === PACK_VERSION;
}

/** A record ready to be written: `parts` concatenated are the record bytes. */
export interface EncodedRecord {
  readonly parts: readonly Buffer[];
  readonly length: number;
  readonly rawLength: number;
  readonly flags: number;
}

export interface RecordHeader {
  readonly id: Buffer;
  readonly flags: number;
  readonly rawLength: number;
  readonly storedLength: number;
  /** Total record length: header + payload + tag. */
  readonly length: number;
}

/** The codec of one store: its key and zstd contexts (reused; they are costly to create). */
export interface RecordCodec {
  /**
   * The record of a chunk: `zstd` (a frame of `raw`) when given, else `raw` compressed unless
   * `incompressible`; raw whenever the compressed form would not be smaller. Reads `raw` and
   * `zstd` only during the call.
   */
  encode(id: Buffer, raw: Uint8Array, zstd?: Uint8Array, incompressible?: boolean): EncodedRecord;
  /**
   * Authenticates, decrypts and decompresses a record read from the index location of `id`.
   * Throws CORRUPT without location details (the caller knows them and adds them).
   */
  decode(id: Buffer, record: Buffer): Buffer;
  /**
   * Authenticates and decrypts a record without decompressing it: the stored payload (a
   * zstd frame when `zstd`) and the plaintext length. Throws CORRUPT like decode().
   */
  open(id: Buffer, record: Buffer): { payload: Buffer; zstd: boolean; rawLength: number };
}

export function createRecordCodec(key: KeyObject, compressionLevel: number): RecordCodec {
  // Compressed payloads go straight into the cipher, so the compressor's reused output
  // buffer serves every record.
  const compress = createZstdCompressor(compressionLevel);
  const decompressor = new Decompressor();

  return {
    encode(id, raw, zstdFrame, incompressible = false) {
      let payload: Uint8Array | undefined = zstdFrame ?? (incompressible ? undefined : compress(raw));
      let flags = FLAG_ZSTD;
      // Stored raw when compression does not pay: incompressible data (media, archives,
      // encrypted files) would otherwise cost a decompression on every read for nothing.
      if (payload === undefined || payload.length >= raw.length) {
        payload = raw;
        flags = 0;
      }
      const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      header.writeUInt32LE(RECORD_MAGIC, 0);
      header[4] = RECORD_VERSION;
      header[5] = flags;
      header.writeUInt16LE(0, 6);
      id.copy(header, 8);
      header.writeUInt32LE(raw.length, 40);
      header.writeUInt32LE(payload.length, 44);
      randomFillSync(header, 48, NONCE_BYTES);
      header.writeUInt32LE(crc32(header.subarray(0, HEADER_CRC_OFFSET)), HEADER_CRC_OFFSET);

      const cipher = createCipheriv('aes-256-gcm', key, header.subarray(48, 48 + NONCE_BYTES));
      cipher.setAAD(header);
      const ciphertext = cipher.update(payload);
      const rest = cipher.final();
      const tag = cipher.getAuthTag();
      const parts = rest.length === 0 ? [header, ciphertext, tag] : [header, ciphertext, rest, tag];
      return {
        parts,
        length: RECORD_OVERHEAD_BYTES + payload.length,
        rawLength: raw.length,
        flags,
      };
    },

    decode(id, record) {
      const opened = this.open(id, record);
      if (!opened.zstd) return opened.payload;
      let plaintext: Buffer;
      try {
        plaintext = decompressor.decompress(opened.payload);
      } catch (err) {
        throw new HavenError('CORRUPT', 'record payload does not decompress', { cause: err });
      }
      if (plaintext.length !== opened.rawLength) {
        throw new HavenError('CORRUPT', `record decompresses to ${plaintext.length} bytes, header says ${opened.rawLength}`);
      }
      return plaintext;
    },

    open(id, record) {
      const header = parseRecordHeader(record);
      if (typeof header === 'string') throw new HavenError('CORRUPT', header);
      if (!header.id.equals(id)) throw new HavenError('CORRUPT', 'record belongs to another chunk id');
      if (header.length !== record.length) throw new HavenError('CORRUPT', 'record length does not match the index');
      const tagAt = RECORD_HEADER_BYTES + header.storedLength;
      let payload: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, record.subarray(48, 48 + NONCE_BYTES));
        decipher.setAAD(record.subarray(0, RECORD_HEADER_BYTES));
        decipher.setAuthTag(record.subarray(tagAt, tagAt + RECORD_TAG_BYTES));
        const head = decipher.update(record.subarray(RECORD_HEADER_BYTES, tagAt));
        const tail = decipher.final();
        payload = tail.length === 0 ? head : Buffer.concat([head, tail]);
      } catch (err) {
        throw new HavenError('CORRUPT', 'record fails authentication (damaged, or another key)', { cause: err });
      }
      return { payload, zstd: (header.flags & FLAG_ZSTD) !== 0, rawLength: header.rawLength };
    },
  };
}

/** Parses and checks a record header; a string says why the bytes are not one. */
export function parseRecordHeader(bytes: Buffer): RecordHeader | string {
  if (bytes.length < RECORD_HEADER_BYTES) return 'truncated record header';
  if (bytes.readUInt32LE(0) !== RECORD_MAGIC) return 'bad record magic';
  if (bytes.readUInt32LE(HEADER_CRC_OFFSET) !== crc32(bytes.subarray(0, HEADER_CRC_OFFSET))) {
    return 'record header checksum mismatch';
  }
  if (bytes[4] !== RECORD_VERSION) return `unsupported record version ${bytes[4]}`;
  const flags = bytes[5] ?? 0;
  if ((flags & ~FLAG_ZSTD) !== 0) return `unknown record flags ${flags}`;
  const rawLength = bytes.readUInt32LE(40);
  const storedLength = bytes.readUInt32LE(44);
  if (rawLength > MAX_CHUNK_BYTES) return `record raw length ${rawLength} exceeds the maximum`;
  // Compressed payloads are stored only when strictly smaller than the plaintext.
  if ((flags & FLAG_ZSTD) === 0 ? storedLength !== rawLength : storedLength >= rawLength) {
    return 'record lengths do not match its flags';
  }
  return {
    id: bytes.subarray(8, 40),
    flags,
    rawLength,
    storedLength,
    length: RECORD_OVERHEAD_BYTES + storedLength,
  };
}
