import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { createZstdCompressor } from '@haven/core';
import { createZstdPool } from './zstd-pool.js';

function text(n: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length: Math.ceil(n / 8) + 1 }, (_, i) => `${seed}-${i % 511} `).join('').slice(0, n));
}

/** What the pool hands to `use`, copied out of its shared memory. */
function copyOf(frame: Uint8Array | undefined): Buffer | undefined {
  return frame === undefined ? undefined : Buffer.from(frame);
}

const inputs: Array<[string, Buffer]> = [
  ['text', text(1_000_000, 1)],
  ['random (does not shrink)', randomBytes(300_000)],
  ['one byte', Buffer.from('x')],
  ['empty', Buffer.alloc(0)],
  ['text larger than a slot has been so far', text(3_000_000, 2)],
];

describe('zstd pool', () => {
  it('gives the frames the calling thread would, for many chunks at once', async () => {
    const pool = createZstdPool(3);
    const here = createZstdCompressor(3);
    const chunks = [...inputs.map(([, b]) => b), ...Array.from({ length: 20 }, (_, i) => text(50_000 + i * 1000, i))];
    const frames = await Promise.all(chunks.map((c) => pool.compress(c, copyOf)));
    chunks.forEach((c, i) => {
      const want = copyOf(here(c));
      const got = frames[i];
      if (want === undefined || got === undefined) {
        expect([got, want]).toEqual([undefined, undefined]);
        return;
      }
      expect(got.equals(want)).toBe(true);
      expect(Buffer.from(decompress(got)).equals(c)).toBe(true);
    });
    // Incompressible and tiny chunks are left raw.
    expect(frames.slice(1, 4)).toEqual([undefined, undefined, undefined]);
  });

  it('views a chunk inside a larger buffer without reading past it', async () => {
    const pool = createZstdPool(3);
    const big = Buffer.concat([randomBytes(1000), text(200_000, 3), randomBytes(1000)]);
    const view = big.subarray(1000, 201_000);
    const frame = (await pool.compress(view, copyOf)) ?? Buffer.alloc(0);
    expect(Buffer.from(decompress(frame)).equals(view)).toBe(true);
  });

  it('compresses on the calling thread when the worker cannot run', async () => {
    const pool = createZstdPool(3, { workerBinding: '/nonexistent/zstd-binding.node' });
    const chunks = Array.from({ length: 6 }, (_, i) => text(100_000, i));
    const roundTrip = async (c: Buffer): Promise<boolean> => Buffer.from(decompress((await pool.compress(c, copyOf)) ?? Buffer.alloc(0))).equals(c);
    expect(await Promise.all(chunks.map(roundTrip))).toEqual(chunks.map(() => true));
    // And keeps doing so.
    expect(await roundTrip(text(20_000, 9))).toBe(true);
  });
});
