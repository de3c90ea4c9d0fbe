import zstd from 'zstd-napi/binding.js';

/**
 * zstd frames of chunks through one reusable context and output buffer: a chunk it would not
 * shrink gives undefined (the caller sends or stores it raw). The result is a view of the output buffer,
 * valid until the next call. zstd-napi's Compressor allocates a compressBound()-sized buffer
 * on every call (and copies again when the frame is smaller): one more large short-lived
 * buffer per chunk, which the GC pays for.
 */
export function createZstdCompressor(level: number): (raw: Uint8Array) => Uint8Array | undefined {
  const cctx = new zstd.CCtx();
  cctx.setParameter(zstd.CParameter.compressionLevel, level);
  let scratch = new Uint8Array(0);
  return (raw) => {
    if (raw.length < 2) return undefined;
    if (scratch.length < raw.length) scratch = new Uint8Array(raw.length);
    try {
      // Room for less than the chunk only: zstd gives up ("destination buffer is too small")
      // as soon as the frame cannot be smaller than the raw bytes.
      return scratch.subarray(0, cctx.compress2(scratch.subarray(0, raw.length - 1), raw));
    } catch {
      return undefined;
    }
  };
}
