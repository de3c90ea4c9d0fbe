import { HavenError, chunkIdToBytes, createZstdCompressor } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { Compression, UploadChunksRequestSchema, encodeChunkMessage } from '@haven/proto';
import type { EncodedMessage, RequestOf } from '@haven/proto';
import type { Uplink } from './uplink.js';
import { sharedZstdPool } from './zstd-pool.js';

/** A chunk ready to send: its id and plaintext. */
export interface PendingChunk {
  readonly id: ChunkId;
  readonly raw: Uint8Array;
}

export interface UploadStats {
  offered: number;
  sent: number;
  sentBytes: number;
  rawBytes: number;
}

const FIND_MISSING_BATCH = 4096;
const DEFAULT_WINDOW = 32 * 1024 * 1024;
/**
 * Raw bytes of chunks handed to the worker ahead of the one being sent, so that it keeps
 * compressing while this thread waits for the window or the transport.
 */
const COMPRESS_AHEAD_BYTES = 8 * 1024 * 1024;

/** A chunk's upload message, ready to go out. */
export interface EncodedChunk {
  readonly message: EncodedMessage<typeof UploadChunksRequestSchema>;
  /** Bytes of Chunk.data: what the upload window counts. */
  readonly dataBytes: number;
  /** Bytes of its plaintext. */
  readonly rawBytes: number;
}

/** The upload message of a chunk, given its zstd frame when that is smaller. */
export function encodeUploadChunk(c: PendingChunk, frame: Uint8Array | undefined): EncodedChunk {
  const data = frame ?? c.raw;
  const compression = frame === undefined ? Compression.NONE : Compression.ZSTD;
  // Built by hand: one exact allocation and one copy of the data (see EncodedMessage).
  const message = encodeChunkMessage(UploadChunksRequestSchema, 'chunk', { id: chunkIdToBytes(c.id), compression, data, rawLength: c.raw.length });
  return { message, dataBytes: data.length, rawBytes: c.raw.length };
}

/**
 * Streams `count` encoded chunks over one UploadChunks call, keeping at most the granted
 * window of unacknowledged bytes in flight; resolves when the controller acknowledged all.
 */
export async function uploadEncoded(uplink: Uplink, set: string, chunks: AsyncIterable<EncodedChunk>, count: number, windowBytes = DEFAULT_WINDOW): Promise<void> {
  if (count === 0) return;
  let window = 0;
  let sentBytes = 0;
  let ackedBytes = 0;
  let ackedChunks = 0;
  let wake: (() => void) | undefined;
  const changed = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForChange = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));

  async function* requests(): AsyncGenerator<RequestOf<typeof UploadChunksRequestSchema>> {
    yield { msg: { case: 'open', value: { set, requestedWindowBytes: BigInt(windowBytes) } } };
    while (window === 0) await waitForChange();
    for await (const e of chunks) {
      // Always allow one chunk when nothing is in flight, so a window smaller than a chunk cannot deadlock.
      while (sentBytes - ackedBytes > 0 && sentBytes - ackedBytes + e.dataBytes > window) await waitForChange();
      sentBytes += e.dataBytes;
      yield e.message;
    }
    // Half-close only after every chunk is acknowledged: the end of the request stream
    // alone is not a commit signal on the server (a cancel looks the same).
    while (ackedChunks < count) await waitForChange();
  }

  for await (const res of uplink.upload(requests())) {
    if (res.msg.case === 'grant') window = Number(res.msg.value.windowBytes);
    else if (res.msg.case === 'ack') {
      ackedBytes = Number(res.msg.value.bytes);
      ackedChunks = Number(res.msg.value.chunks);
    }
    changed();
    if (ackedChunks >= count) break;
  }
  if (ackedChunks < count) throw new HavenError('UNAVAILABLE', `upload ended after ${ackedChunks} of ${count} chunks`);
}

export interface ChunkUploaderOptions {
  /** zstd level (default 3). */
  compressionLevel?: number;
  /** Upload window asked of the controller (default 32 MiB). */
  windowBytes?: number;
  /**
   * Compress on the process's zstd worker thread, a few chunks ahead, so that compression
   * overlaps chunking, hashing and the transport (default false: on the calling thread).
   * See createZstdPool for when that pays.
   */
  compressInWorker?: boolean;
}

/**
 * Sends the chunks the controller lacks. Asks find-missing in batches, then streams only
 * the missing ones, zstd-compressed (raw when that does not shrink them), keeping at most
 * one window of unacknowledged bytes in flight: a slow controller slows the agent down
 * instead of growing its memory.
 */
export function createChunkUploader(uplink: Uplink, options: ChunkUploaderOptions = {}) {
  const level = options.compressionLevel ?? 3;
  // Compressing on the calling thread, one chunk at a time: on the worker, a few chunks ahead.
  let encode: (c: PendingChunk) => Promise<EncodedChunk>;
  let compressAheadBytes = 0;
  if (options.compressInWorker === true) {
    const pool = sharedZstdPool(level);
    encode = (c) => pool.compress(c.raw, (z) => encodeUploadChunk(c, z));
    compressAheadBytes = COMPRESS_AHEAD_BYTES;
  } else {
    const compress = createZstdCompressor(level);
    // No await between compressing and encoding: the frame is a view of the compressor's
    // buffer, valid only until its next call.
    encode = async (c) => encodeUploadChunk(c, compress(c.raw));
  }

  async function missingOf(set: string, chunks: readonly PendingChunk[]): Promise<PendingChunk[]> {
    const out: PendingChunk[] = [];
    const seen = new Set<ChunkId>();
    const unique = chunks.filter((c) => (seen.has(c.id) ? false : (seen.add(c.id), true)));
    for (let i = 0; i < unique.length; i += FIND_MISSING_BATCH) {
      const batch = unique.slice(i, i + FIND_MISSING_BATCH);
      const missing = await uplink.findMissing(set, batch.map((c) => chunkIdToBytes(c.id)));
      for (const idx of missing) {
        const c = batch[idx];
        if (c === undefined) throw new HavenError('INTERNAL', `controller answered find-missing with index ${idx} of ${batch.length}`);
        out.push(c);
      }
    }
    return out;
  }

  /** The chunks' messages in order, encoding on the worker up to compressAheadBytes ahead. */
  async function* encoded(chunks: readonly PendingChunk[], stats: UploadStats): AsyncGenerator<EncodedChunk> {
    const ahead: Array<Promise<EncodedChunk>> = [];
    let aheadBytes = 0;
    let next = 0;
    for (const c of chunks) {
      for (let n = chunks[next]; n !== undefined && (ahead.length === 0 || aheadBytes < compressAheadBytes); n = chunks[++next]) {
        const p = encode(n);
        // Left unawaited when the stream fails: that must not be an unhandled rejection.
        p.catch(() => undefined);
        ahead.push(p);
        aheadBytes += n.raw.length;
      }
      const e = await (ahead.shift() ?? encode(c));
      aheadBytes -= c.raw.length;
      stats.sent++;
      stats.sentBytes += e.dataBytes;
      stats.rawBytes += e.rawBytes;
      yield e;
    }
  }

  return {
    /** Uploads whichever of `chunks` the set lacks; resolves when all are acknowledged. */
    async upload(set: string, chunks: readonly PendingChunk[]): Promise<UploadStats> {
      const stats: UploadStats = { offered: chunks.length, sent: 0, sentBytes: 0, rawBytes: 0 };
      const missing = await missingOf(set, chunks);
      await uploadEncoded(uplink, set, encoded(missing, stats), missing.length, options.windowBytes);
      return stats;
    },
  };
}

export type ChunkUploader = ReturnType<typeof createChunkUploader>;
