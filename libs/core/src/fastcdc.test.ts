import { describe, expect, it } from 'vitest';
import { HavenError } from './errors.js';
import { FASTCDC_DEFAULTS, createFastCdc, fastCdcCuts, fastCdcParams, nextCut } from './fastcdc.js';
import type { FastCdcParams } from './fastcdc.js';
import { prngBytes, prngInts } from './test-support/prng.js';

const small = fastCdcParams({ min: 1024, avg: 4096, max: 16384 });

function lengths(cuts: number[]): number[] {
  return cuts.map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]!));
}

/** Streams `data` through a chunker in pieces of the sizes `next()` returns; returns cut offsets. */
function streamCuts(data: Uint8Array, params: FastCdcParams, next: () => number): { cuts: number[]; chunks: Uint8Array[] } {
  const chunker = createFastCdc(params);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < data.length; ) {
    const n = Math.min(next(), data.length - at);
    chunks.push(...chunker.push(data.subarray(at, at + n)));
    at += n;
  }
  chunks.push(...chunker.finish());
  const cuts: number[] = [];
  let end = 0;
  for (const c of chunks) cuts.push((end += c.length));
  return { cuts, chunks };
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HavenError);
    expect((err as HavenError).code).toBe(code);
    return;
  }
  expect.fail('expected a HavenError');
}

describe('fastCdcParams', () => {
  it('defaults to 256 KiB / 1 MiB / 4 MiB with normalization level 2', () => {
    const p = fastCdcParams();
    expect([p.min, p.avg, p.max, p.normalization]).toEqual([256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 2]);
    expect(FASTCDC_DEFAULTS.avg).toBe(1024 * 1024);
    // 20 bits for 1 MiB, +-2 for normalization, taken from the top of the 32-bit hash.
    expect(p.maskS >>> 0).toBe(0xfffffc00);
    expect(p.maskL >>> 0).toBe(0xffffc000);
  });

  it.each([
    [{ min: 0 }, 'min must be >='],
    [{ min: 63, avg: 64, max: 128 }, 'min must be >='],
    [{ min: 2048, avg: 1024, max: 4096 }, 'min <= avg <= max'],
    [{ min: 1024, avg: 8192, max: 4096 }, 'min <= avg <= max'],
    [{ max: 2 * 1024 * 1024 * 1024 }, 'max must be <='],
    [{ avg: 1.5 }, 'must be an integer'],
    [{ min: Number.NaN }, 'must be an integer'],
    [{ normalization: 4 }, 'normalization must be 0..3'],
    [{ normalization: -1 }, 'normalization must be 0..3'],
  ])('rejects %j', (options, message) => {
    expectCode(() => fastCdcParams(options), 'INVALID_ARGUMENT');
    expect(() => fastCdcParams(options)).toThrow(message);
  });

  it('rejects bad options when creating a chunker too', () => {
    expectCode(() => createFastCdc({ min: 10 }), 'INVALID_ARGUMENT');
  });
});

describe('fastCdcCuts', () => {
  it('pins the boundaries: they are a stored format (dedup against existing data depends on them)', () => {
    expect(fastCdcCuts(prngBytes(16 << 20, 42))).toEqual([
      1384567, 3229940, 4325345, 5606773, 6807152, 7878336, 8177898, 9342003, 10598205, 11473927, 12436840, 13673777,
      14773976, 15838161, 16777216,
    ]);
    expect(fastCdcCuts(prngBytes(200_000, 7), small)).toEqual([
      6603, 8196, 13693, 18908, 25481, 29831, 34573, 38852, 43084, 48977, 55513, 61118, 68578, 73726, 76502, 80894,
      86283, 91124, 92939, 97949, 104281, 109632, 114898, 119280, 123696, 128356, 134465, 139890, 145041, 150168,
      154536, 164164, 170183, 174445, 180882, 185638, 192311, 197713, 200000,
    ]);
  });

  it('is deterministic', () => {
    const data = prngBytes(1 << 20, 3);
    expect(fastCdcCuts(data, small)).toEqual(fastCdcCuts(data.slice(), small));
  });

  it('respects min and max, and the average lands near avg on random data', () => {
    for (const params of [small, fastCdcParams({ min: 2048, avg: 8192, max: 65536, normalization: 1 })]) {
      const data = prngBytes(16 << 20, 11);
      const sizes = lengths(fastCdcCuts(data, params));
      const body = sizes.slice(0, -1);
      expect(Math.min(...body)).toBeGreaterThanOrEqual(params.min);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(params.max);
      const mean = data.length / sizes.length;
      expect(mean).toBeGreaterThan(params.avg * 0.8);
      expect(mean).toBeLessThan(params.avg * 1.5);
    }
  });

  it('with defaults: 1 MiB average, chunks in 256 KiB .. 4 MiB', () => {
    const data = prngBytes(64 << 20, 5);
    const sizes = lengths(fastCdcCuts(data));
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual(256 * 1024);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4 * 1024 * 1024);
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(0.8 * 1024 * 1024);
    expect(mean).toBeLessThan(1.5 * 1024 * 1024);
  });

  it('resynchronises after an insert at the start: only the first boundaries move', () => {
    const data = prngBytes(8 << 20, 9);
    const inserted = new Uint8Array(data.length + 100);
    inserted.set(prngBytes(100, 77), 0);
    inserted.set(data, 100);
    const before = fastCdcCuts(data, small);
    const after = new Set(fastCdcCuts(inserted, small).map((c) => c - 100));
    const moved = before.filter((c) => !after.has(c));
    expect(before.length).toBeGreaterThan(1000);
    expect(moved.length).toBeLessThanOrEqual(3);
    expect(moved.every((c) => c <= before[2]!)).toBe(true);
  });

  it('resynchronises after an edit in the middle: boundaries far from it stay', () => {
    const data = prngBytes(4 << 20, 13);
    const edited = data.slice();
    edited.fill(0xab, 2_000_000, 2_000_050);
    const before = fastCdcCuts(data, small);
    const after = new Set(fastCdcCuts(edited, small));
    const moved = before.filter((c) => !after.has(c));
    expect(moved.length).toBeLessThanOrEqual(3);
    expect(moved.every((c) => c > 2_000_000 && c < 2_000_000 + 3 * small.max)).toBe(true);
  });

  it('handles empty input, input smaller than min, and uniform input', () => {
    expect(fastCdcCuts(new Uint8Array(0), small)).toEqual([]);
    expect(fastCdcCuts(prngBytes(500), small)).toEqual([500]);
    expect(fastCdcCuts(prngBytes(small.min), small)).toEqual([small.min]);
    const zeros = lengths(fastCdcCuts(new Uint8Array(100_000), small));
    expect(zeros.slice(0, -1).every((n) => n >= small.min && n <= small.max)).toBe(true);
    expect(zeros.reduce((a, b) => a + b, 0)).toBe(100_000);
  });
});

describe('nextCut', () => {
  it('returns -1 when it cannot decide yet and the end with eof', () => {
    const data = prngBytes(small.max * 2, 21);
    const full = nextCut(data, 0, data.length, small);
    expect(full).toBeGreaterThanOrEqual(small.min);
    expect(full).toBeLessThanOrEqual(small.max);
    // Cut decisions never depend on bytes after the cut.
    expect(nextCut(data, 0, full, small)).toBe(full);
    expect(nextCut(data, 0, full - 1, small)).toBe(-1);
    expect(nextCut(data, 0, full - 1, small, true)).toBe(full - 1);
    expect(nextCut(data, 5, 5, small, true)).toBe(-1);
    expect(nextCut(data, 10, 10 + small.min - 1, small)).toBe(-1);
  });

  it('forces a cut at max when no cut point appears', () => {
    const zeros = new Uint8Array(small.max * 3);
    const cut = nextCut(zeros, 0, zeros.length, small);
    expect(cut).toBeGreaterThan(0);
    expect(cut).toBeLessThanOrEqual(small.max);
  });

  it('works from any start offset', () => {
    const data = prngBytes(300_000, 23);
    const cuts = fastCdcCuts(data, small);
    expect(nextCut(data, cuts[3]!, data.length, small, true)).toBe(cuts[4]);
  });
});

describe('createFastCdc (streaming)', () => {
  const data = prngBytes(3 << 20, 31);
  const oneShot = fastCdcCuts(data, small);

  it.each([
    ['7-byte', () => 7],
    ['1 KiB', () => 1024],
    ['1 MiB', () => 1 << 20],
    ['4 MiB (whole)', () => 4 << 20],
  ])('%s pushes give the one-shot cuts', (_name, size) => {
    const { cuts, chunks } = streamCuts(data, small, size);
    expect(cuts).toEqual(oneShot);
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
  });

  it('random push sizes (including empty pushes) give the one-shot cuts', () => {
    for (const seed of [1, 2, 3]) {
      const rnd = prngInts(seed);
      const sizes = [0, 1, 2, 100, 1023, 4096, 16383, 16385, 70_000];
      expect(streamCuts(data, small, () => sizes[rnd(sizes.length)]!).cuts).toEqual(oneShot);
    }
  });

  it('1-byte pushes give the one-shot cuts', () => {
    const part = data.subarray(0, 200_000);
    expect(streamCuts(part, small, () => 1).cuts).toEqual(fastCdcCuts(part, small));
  });

  it('1 MiB pushes with default params give the one-shot cuts', () => {
    const big = prngBytes(24 << 20, 8);
    expect(streamCuts(big, fastCdcParams(), () => 1 << 20).cuts).toEqual(fastCdcCuts(big));
  });

  it('hands out views of pushed buffers when a chunk lies inside one, exact-size copies otherwise', () => {
    const chunker = createFastCdc(small);
    const chunks = chunker.push(data);
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(c.buffer).toBe(data.buffer);
    const tail = chunker.finish();
    expect(tail).toHaveLength(1);

    const split = createFastCdc(small);
    const first = split.push(data.subarray(0, 1000));
    expect(first).toEqual([]);
    const [spanning] = split.push(data.subarray(1000, 100_000));
    expect(spanning!.buffer).not.toBe(data.buffer);
    expect(spanning!.byteLength).toBe(spanning!.buffer.byteLength);
    expect(Buffer.isBuffer(spanning)).toBe(false);
    expect(spanning!.length).toBe(oneShot[0]);
  });

  it('empty stream, stream shorter than min, and reuse after finish', () => {
    const chunker = createFastCdc(small);
    expect(chunker.finish()).toEqual([]);
    expect(chunker.push(new Uint8Array(0))).toEqual([]);
    expect(chunker.finish()).toEqual([]);
    expect(chunker.push(data.subarray(0, 10))).toEqual([]);
    expect(chunker.bytesIn).toBe(10);
    const [only] = chunker.finish();
    expect(Array.from(only!)).toEqual(Array.from(data.subarray(0, 10)));
    expect(chunker.bytesIn).toBe(0);
    // A finished chunker starts a fresh stream.
    const again = [...chunker.push(data), ...chunker.finish()];
    expect(again.map((c) => c.length)).toEqual(lengths(oneShot));
  });
});
