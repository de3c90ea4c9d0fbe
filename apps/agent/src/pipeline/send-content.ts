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

export interface ContentSender {
  /** Feeds the next bytes (a fresh buffer: chunks may be views of it). */
  push(buf: Uint8Array): Promise<void>;
  /** The source restarted from its first byte (a torn read): forget what was cut so far. */
  reset(): void;
  /** Uploads the rest and the content root's list chunks. */
  finish(): Promise<SentContent>;
}

/**
 * Cuts a byte stream with FastCDC and uploads the chunks the set lacks in bounded rounds,
 * so memory stays at about one round whatever the file size.
 */
export function createContentSender(uploader: ChunkUploader, set: string, chunking: FastCdcOptions = {}): ContentSender {
  let chunker = createFastCdc(chunking);
  let refs: DataChunkRef[] = [];
  let size = 0;
  const stats: UploadStats = { offered: 0, sent: 0, sentBytes: 0, rawBytes: 0 };
  let pending: PendingChunk[] = [];
  let pendingBytes = 0;

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

  return {
    push: (buf) => take(chunker.push(buf)),
    reset() {
      chunker = createFastCdc(chunking);
      refs = [];
      size = 0;
      pending = [];
      pendingBytes = 0;
    },
    async finish() {
      await take(chunker.finish());
      const root = buildContentRoot(refs);
      for (const l of root.listChunks) pending.push({ id: l.id, raw: l.bytes });
      await flush();
      return { contentRoot: root.rootId, size, chunkCount: refs.length, stats };
    },
  };
}

/** Sends a whole stream (see createContentSender). */
export async function sendContent(
  uploader: ChunkUploader,
  set: string,
  source: AsyncIterable<Uint8Array>,
  chunking: FastCdcOptions = {},
): Promise<SentContent> {
  const sender = createContentSender(uploader, set, chunking);
  for await (const buf of source) await sender.push(buf);
  return sender.finish();
}
