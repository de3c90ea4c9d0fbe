import { compress } from 'zstd-napi';
import { describe, expect, it } from 'vitest';
import { zstdFrameContentSize } from './zstd-frame.js';

describe('zstdFrameContentSize', () => {
  it('reads the declared size of real frames of every header width', () => {
    for (const n of [0, 1, 200, 255, 256, 300, 65_535, 65_536 + 255, 70_000, 1 << 20, 4 << 20]) {
      const frame = compress(Buffer.alloc(n, 7));
      expect(zstdFrameContentSize(frame), String(n)).toBe(n);
    }
  });
  it('returns undefined for non-frames and truncated headers', () => {
    expect(zstdFrameContentSize(new Uint8Array([1, 2, 3, 4, 5, 6, 7]))).toBeUndefined();
    const frame = compress(Buffer.alloc(100_000, 1));
    expect(zstdFrameContentSize(frame.subarray(0, 6))).toBeUndefined();
  });
});
