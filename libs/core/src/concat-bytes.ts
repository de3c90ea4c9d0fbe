/**
 * Joins `parts` (whose lengths sum to `total`) into one new buffer of exactly `total` bytes.
 * The streaming splitters use it for the one copy a chunk needs when it spans several pushed
 * buffers. `allocUnsafeSlow` skips zero-filling (every byte is overwritten right away) and the
 * shared pool, so the chunk owns its memory and pins nothing else. The result is a plain
 * Uint8Array, not a Buffer: `Buffer#slice` returns a view where `Uint8Array#slice` copies, and
 * callers holding a `Uint8Array` must get the copy they expect.
 */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!;
  const out = asPlainBytes(Buffer.allocUnsafeSlow(total));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The same memory as a plain Uint8Array (see concatBytes for why). */
export function asPlainBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
