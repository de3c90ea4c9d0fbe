import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { HavenError, chunkIdOf } from '@haven/core';
import { createUnzstdPool } from './unzstd-pool.js';
import type { UnzstdPool } from './unzstd-pool.js';

function text(n: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length: Math.ceil(n / 8) + 1 }, (_, i) => `${seed}-${i % 509} `).join('').slice(0, n));
}

let fallbackCalls = 0;
/** The same work on the calling thread, as ingest does it. */
const fallback = (frame: Uint8Array, rawLength: number, what: string): { raw: Uint8Array; id: string } => {
  fallbackCalls++;
  let raw: Buffer;
  try {
    raw = decompress(Buffer.from(frame));
  } catch (err) {
    throw new HavenError('CORRUPT', `${what}: data does not decompress`, { cause: err });
  }
  if (raw.length !== rawLength) throw new HavenError('CORRUPT', `${what}: data does not decompress`);
  return { raw, id: chunkIdOf(raw) };
};

const pools: UnzstdPool[] = [];
function pool(options: Partial<Parameters<typeof createUnzstdPool>[0]> = {}): UnzstdPool {
  const p = createUnzstdPool({ threads: 2, fallback, ...options });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  fallbackCalls = 0;
});

describe('unzstd pool', () => {
  it('decompresses and hashes many chunks at once on its threads, each exactly', async () => {
    const p = pool();
    const chunks = [text(1_000_000, 1), text(10, 2), text(3_000_000, 3), ...Array.from({ length: 24 }, (_, i) => text(40_000 + i * 777, i + 10))];
    const got = await Promise.all(chunks.map((c) => p.run('test chunk', compress(c), c.length, (raw, id) => ({ same: Buffer.from(raw).equals(c), id }))));
    expect(got.map((g) => g.same)).toEqual(chunks.map(() => true));
    expect(got.map((g) => g.id)).toEqual(chunks.map((c) => chunkIdOf(c)));
    expect(fallbackCalls).toBe(0);
  });

  it('refuses a frame that holds more or other bytes than declared, and goes on working', async () => {
    const p = pool();
    const a = text(200_000, 1);
    const twoFrames = Buffer.concat([compress(a), compress(a)]);
    const err = await p.run('test chunk', twoFrames, a.length, () => 'used').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HavenError);
    expect((err as HavenError).code).toBe('CORRUPT');
    const garbage = await p.run('test chunk', randomBytes(5000), 10_000, () => 'used').catch((e: unknown) => e);
    expect((garbage as HavenError).code).toBe('CORRUPT');
    // A frame of other bytes decompresses: the id it reports is theirs, for the caller to refuse.
    const b = text(200_000, 2);
    expect(await p.run('test chunk', compress(b), b.length, (_raw, id) => id)).toBe(chunkIdOf(b));
  });

  it('verifies on the calling thread when its workers cannot run', async () => {
    const p = pool({ zstdBinding: '/nonexistent/zstd-binding.node' });
    const chunks = Array.from({ length: 6 }, (_, i) => text(100_000, i));
    const ids = await Promise.all(chunks.map((c) => p.run('test chunk', compress(c), c.length, (_raw, id) => id)));
    expect(ids).toEqual(chunks.map((c) => chunkIdOf(c)));
    expect(fallbackCalls).toBeGreaterThanOrEqual(6);
  });
});
