const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The content size a zstd frame header declares, or undefined when the bytes are not a
 * zstd frame or the header omits it. Decoders size their output from this field, so a
 * receiver checks it against the length it expects *before* decompressing untrusted
 * input (a tiny frame can claim gigabytes).
 */
export function zstdFrameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const magic = (frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24)) >>> 0;
  if (magic !== ZSTD_MAGIC) return undefined;
  const fhd = frame[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdFlag = fhd & 3;
  let pos = 5 + (singleSegment === 1 ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : [1, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  if (frame.length < pos + fcsBytes) return undefined;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + frame[pos + i]!;
  pos += fcsBytes;
  // The 2-byte form is stored minus 256 (RFC 8878 §3.1.1.1.4).
  return fcsBytes === 2 ? size + 256 : size;
}
