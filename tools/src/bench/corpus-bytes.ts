import { createCipheriv, createHash } from 'node:crypto';

/**
 * Deterministic byte sources for generated corpora. Everything derives from a string key, so
 * any piece of a corpus can be regenerated on its own, in any order, on any machine.
 */

/** A seeded PRNG for planning decisions (sizes, placements, kinds). */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi). */
  int(lo: number, hi: number): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator) seeded from SHA-256 of the key:
 * plain 32-bit integer arithmetic, so sequences are identical on every platform and Node version.
 */
export function createRng(key: string): Rng {
  const h = createHash('sha256').update(key).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = (): number => u32() / 0x1_0000_0000;
  return { u32, next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo)) };
}

const ZERO_IV = Buffer.alloc(16);

/**
 * Incompressible bytes: the AES-256-CTR keystream under SHA-256 of the key. Several GB/s with
 * AES-NI, so generating a corpus costs little next to what is measured on it.
 */
export function fillRandom(out: Uint8Array, key: string): void {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(`random/${key}`).digest(), ZERO_IV);
  const step = 1 << 20;
  const zeros = Buffer.alloc(Math.min(step, out.length));
  for (let o = 0; o < out.length; o += step) {
    const n = Math.min(step, out.length - o);
    out.set(cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n)), o);
  }
}

const TEXT_POOL_BYTES = 8 * 1024 * 1024;
const TEXT_SLICE_MIN = 2 * 1024;
const TEXT_SLICE_MAX = 32 * 1024;
let textPool: Buffer | undefined;

/**
 * Text-like bytes: slices (2-32 KiB) of a fixed 8 MiB pool of generated log/prose lines, picked
 * at random offsets. Slices are far smaller than a chunk and the pool far larger than one, so
 * text compresses like text (about 3x at zstd level 3) but never dedups by accident.
 */
export function fillText(out: Uint8Array, key: string): void {
  const pool = (textPool ??= buildTextPool());
  const rng = createRng(`text/${key}`);
  for (let o = 0; o < out.length; ) {
    const n = Math.min(rng.int(TEXT_SLICE_MIN, TEXT_SLICE_MAX + 1), out.length - o);
    const at = rng.int(0, pool.length - n);
    out.set(pool.subarray(at, at + n), o);
    o += n;
  }
}

const LETTERS = 'etaoinshrdlucmfwypvbgkjqxz';
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];

/** Lines of a synthetic log: timestamps, levels, Zipf-ish words from a fixed vocabulary, numbers. */
function buildTextPool(): Buffer {
  const rng = createRng('haven-text-pool-v1');
  const vocab: string[] = [];
  for (let i = 0; i < 4096; i++) {
    let w = '';
    const len = 2 + Math.floor(rng.next() * rng.next() * 11);
    // Frequent letters more often, as in real text.
    for (let j = 0; j < len; j++) w += LETTERS[Math.floor(rng.next() * rng.next() * LETTERS.length)];
    vocab.push(w);
  }
  const lines: string[] = [];
  let bytes = 0;
  let t = Date.UTC(2024, 0, 1) / 1000;
  while (bytes < TEXT_POOL_BYTES) {
    t += rng.int(0, 5);
    const words: string[] = [new Date(t * 1000).toISOString(), LEVELS[rng.int(0, LEVELS.length)]!, `[${vocab[rng.int(0, 32)]!}]`];
    const n = rng.int(4, 18);
    for (let i = 0; i < n; i++) {
      const r = rng.next();
      if (r < 0.06) words.push(String(rng.u32() % 100_000));
      else if (r < 0.08) words.push(`id=${rng.u32().toString(16)}`);
      else words.push(vocab[Math.floor(vocab.length * r * r * r)]!);
    }
    const line = words.join(' ') + '\n';
    lines.push(line);
    bytes += line.length;
  }
  return Buffer.from(lines.join(''), 'latin1').subarray(0, TEXT_POOL_BYTES);
}
