import { describe, expect, it } from 'vitest';
import { HavenError } from './errors.js';
import { FIXED_BLOCK_DEFAULT, createFixedSplitter, isAllZero } from './fixed-splitter.js';
import { prngBytes, prngInts } from './test-support/prng.js';

function split(data: Uint8Array, blockSize: number, next: () => number): Uint8Array[] {
  const s = createFixedSplitter({ blockSize });
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; ) {
    const n = Math.min(next(), data.length - at);
    out.push(...s.push(data.subarray(at, at + n)));
    at += n;
  }
  out.push(...s.finish());
  return out;
}

describe('createFixedSplitter', () => {
  it('defaults to 1 MiB blocks', () => {
    expect(createFixedSplitter().blockSize).toBe(1024 * 1024);
    expect(FIXED_BLOCK_DEFAULT).toBe(1024 * 1024);
  });

  it.each([0, 100, 511, 1000, 4097, 128 * 1024 * 1024, 4096.5, Number.NaN])('rejects block size %d', (blockSize) => {
    expect(() => createFixedSplitter({ blockSize })).toThrow(HavenError);
    expect(() => createFixedSplitter({ blockSize })).toThrow(/block size must be a multiple of 512/);
  });

  it('cuts at fixed offsets whatever the push sizes, with a short last block', () => {
    const data = prngBytes(10 * 4096 + 123, 5);
    for (const next of [() => 1, () => 4096, () => 5000, () => 1 << 20, prngInts(3).bind(null, 9000)]) {
      const blocks = split(data, 4096, next);
      expect(blocks.map((b) => b.length)).toEqual([...Array<number>(10).fill(4096), 123]);
      expect(Buffer.concat(blocks).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('gives views for blocks inside one push and no block for an empty stream', () => {
    const data = prngBytes(8192, 1);
    const s = createFixedSplitter({ blockSize: 4096 });
    const blocks = s.push(data);
    expect(blocks).toHaveLength(2);
    expect(blocks.every((b) => b.buffer === data.buffer)).toBe(true);
    expect(s.finish()).toEqual([]);
    expect(s.push(new Uint8Array(0))).toEqual([]);
    expect(s.finish()).toEqual([]);
  });
});

describe('isAllZero', () => {
  it('detects all-zero blocks of any size and offset', () => {
    expect(isAllZero(new Uint8Array(0))).toBe(true);
    expect(isAllZero(new Uint8Array(1))).toBe(true);
    expect(isAllZero(new Uint8Array(1024 * 1024))).toBe(true);
    expect(isAllZero(new Uint8Array(200_001))).toBe(true);
    const big = new Uint8Array(300_000);
    expect(isAllZero(big.subarray(7, 250_013))).toBe(true);
  });

  it('finds a single set byte anywhere', () => {
    const size = 200_000;
    for (const at of [0, 1, 65_535, 65_536, 131_071, 150_000, size - 2, size - 1]) {
      const b = new Uint8Array(size);
      b[at] = 1;
      expect(isAllZero(b)).toBe(false);
    }
    const outer = new Uint8Array(1000);
    outer[0] = 9;
    outer[999] = 9;
    expect(isAllZero(outer.subarray(1, 999))).toBe(true);
  });
});
