import { concatBytes } from './concat-bytes.js';
import { invalidArgument } from './errors.js';

/**
 * Fixed-size blocks for block sets (devices, images): block i covers bytes
 * [i*blockSize, (i+1)*blockSize), so a changed block maps to one block id and unchanged blocks
 * keep their ids. Content-defined cutting buys nothing here: block data never shifts.
 */

export const FIXED_BLOCK_DEFAULT = 1024 * 1024;
export const FIXED_BLOCK_LIMITS = Object.freeze({ min: 512, max: 64 * 1024 * 1024 });

export interface FixedSplitterOptions {
  /** Block size in bytes: a multiple of 512 (the sector size) in 512 B .. 64 MiB. Default 1 MiB. */
  blockSize?: number;
}

/**
 * Streaming fixed-block splitter. Same ownership rule as the FastCDC chunker: do not modify a
 * pushed buffer afterwards; blocks inside one pushed buffer are zero-copy views of it, blocks
 * spanning pushes are assembled once.
 */
export interface FixedSplitter {
  readonly blockSize: number;
  /** Feeds the next bytes; returns the full blocks they completed, in order. */
  push(data: Uint8Array): Uint8Array[];
  /** Ends the stream: returns the short last block, if any, and resets for a new stream. */
  finish(): Uint8Array[];
}

export function createFixedSplitter(options: FixedSplitterOptions = {}): FixedSplitter {
  const blockSize = options.blockSize ?? FIXED_BLOCK_DEFAULT;
  if (
    !Number.isSafeInteger(blockSize) ||
    blockSize < FIXED_BLOCK_LIMITS.min ||
    blockSize > FIXED_BLOCK_LIMITS.max ||
    blockSize % 512 !== 0
  ) {
    throw invalidArgument(
      `block size must be a multiple of 512 in ${FIXED_BLOCK_LIMITS.min}..${FIXED_BLOCK_LIMITS.max}, got ${String(blockSize)}`,
    );
  }
  let parts: Uint8Array[] = [];
  let pending = 0;

  return {
    blockSize,
    push(data) {
      const out: Uint8Array[] = [];
      let pos = 0;
      if (data.length === 0) return out;
      if (pending > 0) {
        const take = Math.min(blockSize - pending, data.length);
        parts.push(data.subarray(0, take));
        pending += take;
        pos = take;
        if (pending < blockSize) return out;
        out.push(concatBytes(parts, blockSize));
        parts = [];
        pending = 0;
      }
      for (; pos + blockSize <= data.length; pos += blockSize) out.push(data.subarray(pos, pos + blockSize));
      if (pos < data.length) {
        parts.push(data.subarray(pos));
        pending = data.length - pos;
      }
      return out;
    },
    finish() {
      const out = pending === 0 ? [] : [concatBytes(parts, pending)];
      parts = [];
      pending = 0;
      return out;
    },
  };
}

/** A shared all-zero page to compare against; never written. */
const ZERO_PAGE = Buffer.alloc(64 * 1024);

/**
 * True when every byte is zero (a hole: recorded, not stored). Native memcmp against a zero page
 * (`Buffer#equals`) runs at memory speed; the first-byte check rejects most data blocks at once.
 */
export function isAllZero(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n === 0) return true;
  if (bytes[0] !== 0 || bytes[n - 1] !== 0) return false;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, n);
  for (let at = 0; at < n; at += ZERO_PAGE.length) {
    const len = Math.min(ZERO_PAGE.length, n - at);
    if (!view.subarray(at, at + len).equals(len === ZERO_PAGE.length ? ZERO_PAGE : ZERO_PAGE.subarray(0, len))) {
      return false;
    }
  }
  return true;
}
