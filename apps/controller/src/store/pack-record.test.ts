import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HavenError, chunkIdBytesOf } from '@haven/core';
import { compress } from 'zstd-napi';
import {
  FLAG_ZSTD,
  RECORD_OVERHEAD_BYTES,
  createRecordCodec,
  encodePackHeader,
  isPackHeader,
  parseRecordHeader,
} from './pack-record.js';

const codec = createRecordCodec(createSecretKey(randomBytes(32)), 3);

function encode(raw: Buffer, zstd?: Buffer, incompressible?: boolean): { id: Buffer; record: Buffer; flags: number } {
  const id = Buffer.from(chunkIdBytesOf(raw));
  const r = codec.encode(id, raw, zstd, incompressible);
  const record = Buffer.concat(r.parts);
  expect(record.length).toBe(r.length);
  return { id, record, flags: r.flags };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof HavenError && err.code === 'CORRUPT') return err.message;
    throw err;
  }
  return 'decoded';
}

describe('pack records', () => {
  it('round-trips compressible, incompressible, pre-compressed and empty chunks', () => {
    const text = Buffer.alloc(100_000, 'haven ');
    const noise = randomBytes(100_000);
    const t = encode(text);
    expect(t.flags).toBe(FLAG_ZSTD);
    expect(t.record.length).toBeLessThan(2000);
    const n = encode(noise);
    expect(n.flags).toBe(0);
    expect(n.record.length).toBe(noise.length + RECORD_OVERHEAD_BYTES);
    const p = encode(text, compress(text));
    expect(p.flags).toBe(FLAG_ZSTD);
    // A "compressed" form that does not shrink is ignored in favour of the raw bytes.
    const bloated = encode(noise, compress(noise));
    expect(bloated.flags).toBe(0);
    const e = encode(Buffer.alloc(0));
    expect(e.record.length).toBe(RECORD_OVERHEAD_BYTES);
    for (const [raw, r] of [[text, t], [noise, n], [text, p], [noise, bloated], [Buffer.alloc(0), e]] as const) {
      expect(codec.decode(r.id, r.record).equals(raw)).toBe(true);
    }
  });

  it('keeps a chunk raw without compressing it when told it is incompressible', () => {
    const text = Buffer.alloc(100_000, 'haven ');
    const hinted = encode(text, undefined, true);
    expect(hinted.flags).toBe(0);
    expect(hinted.record.length).toBe(text.length + RECORD_OVERHEAD_BYTES);
    expect(codec.decode(hinted.id, hinted.record).equals(text)).toBe(true);
    // A zstd frame given with the hint is still used: the hint only skips compressing.
    expect(encode(text, compress(text), true).flags).toBe(FLAG_ZSTD);
  });

  it('frames records so a scan can tell them from garbage', () => {
    const { record } = encode(randomBytes(500));
    const h = parseRecordHeader(record);
    expect(typeof h).toBe('object');
    expect(h).toMatchObject({ rawLength: 500, storedLength: 500, length: 500 + RECORD_OVERHEAD_BYTES });
    expect(parseRecordHeader(record.subarray(0, 30))).toBe('truncated record header');
    expect(parseRecordHeader(randomBytes(64))).toBe('bad record magic');
    const torn = Buffer.from(record);
    torn[41] = (torn[41] ?? 0) ^ 1; // raw length
    expect(parseRecordHeader(torn)).toBe('record header checksum mismatch');
    expect(isPackHeader(encodePackHeader())).toBe(true);
    expect(isPackHeader(randomBytes(16))).toBe(false);
  });

  it('refuses damaged records, records of another id and records under another key', () => {
    const a = encode(randomBytes(1000));
    const b = encode(randomBytes(1000));
    expect(reason(() => codec.decode(b.id, a.record))).toMatch(/another chunk id/);
    const flipped = Buffer.from(a.record);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    expect(reason(() => codec.decode(a.id, flipped))).toMatch(/authentication/);
    const other = createRecordCodec(createSecretKey(randomBytes(32)), 3);
    expect(reason(() => other.decode(a.id, a.record))).toMatch(/authentication/);
    expect(reason(() => codec.decode(a.id, a.record.subarray(0, a.record.length - 1)))).toMatch(/length/);
  });
});
