import { createCipheriv, createHash } from 'node:crypto';

/** A reproducible source of numbers and bytes: the same seed gives the same run. */
export interface SeededRandom {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /**
   * `n` pseudo-random bytes. An AES-256-CTR keystream keyed by the seed: incompressible like
   * real media, unique per call, and fast enough to make hundreds of MiB (a JS PRNG is not).
   */
  bytes(n: number): Buffer;
}

export function createSeededRandom(seed: number): SeededRandom {
  // mulberry32: tiny, well distributed, and its whole state is one 32-bit word.
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const key = createHash('sha256').update(`haven-e2e:${seed}`).digest();
  let streams = 0;
  return {
    seed,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
    bytes: (n) => {
      // Each call is its own stream: the IV's top word numbers it, the rest is the block counter.
      const iv = Buffer.alloc(16);
      iv.writeUInt32BE(streams++, 0);
      return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(n));
    },
  };
}

/** The seed of a randomized test: `HAVEN_TEST_SEED` when set (to replay a failure), else `fallback`. */
export function testSeed(fallback: number): number {
  const raw = process.env['HAVEN_TEST_SEED'];
  return raw === undefined || raw === '' ? fallback : Number.parseInt(raw, 10) >>> 0;
}
