import { buildContentRoot, chunkIdOf, createFastCdc } from '@haven/core';
import type { ChunkId, DataChunkRef, FastCdcOptions } from '@haven/core';
import type { ChunkUploader, PendingChunk, UploadStats } from '../uplink/chunk-uploader.js';

/** Bytes of chunks gathered before they are offered to the controller in one round. */
const UPLOAD_BATCH_BYTES = 32 * 1024 * 1024;

export interface SentContent {
  contentRoot: ChunkId;
  size: number;
  chunkCount: number;
  stats: UploadStats;
}

/**
 * Cuts a byte stream with FastCDC, uploads the chunks the set lacks in bounded batches
 * (memory stays at about one batch whatever the size), then uploads the content root's
 * list chunks. Every pushed buffer must be fresh: chunks may be views of it.
 */
export async function sendContent(
  uploader: ChunkUploader,
  set: string,
  source: AsyncIterable<Uint8Array>,
  chunking: FastCdcOptions = {},
): Promise<SentContent> {
  const chunker = createFastCdc(chunking);
  const refs: DataChunkRef[] = [];
  const stats: UploadStats = { offered: 0, sent: 0, sentBytes: 0, rawBytes: 0 };
  let pending: PendingChunk[] = [];
  let pendingBytes = 0;
  let size = 0;

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const s = await uploader.upload(set, pending);
    stats.offered += s.offered;
    stats.sent += s.sent;
    stats.sentBytes += s.sentBytes;
    stats.rawBytes += s.rawBytes;
    pending = [];
    pendingBytes = 0;
  };
  const take = async (chunks: Uint8Array[]): Promise<void> => {
    for (const raw of chunks) {
      const id = chunkIdOf(raw);
      refs.push({ id, length: raw.length });
      pending.push({ id, raw });
      pendingBytes += raw.length;
      size += raw.length;
    }
    if (pendingBytes >= UPLOAD_BATCH_BYTES) await flush();
  };

  for await (const buf of source) await take(chunker.push(buf));
  await take(chunker.finish());
  const root = buildContentRoot(refs);
  for (const l of root.listChunks) pending.push({ id: l.id, raw: l.bytes });
  await flush();
  return { contentRoot: root.rootId, size, chunkCount: refs.length, stats };
}
