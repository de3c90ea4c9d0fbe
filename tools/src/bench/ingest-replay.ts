import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { chunkIdToBytes, createZstdCompressor } from '@haven/core';
import { EntryType } from '@haven/proto';
import type { AgentService, Client, FileChangeSchema } from '@haven/proto';
import { createContentSender, encodeUploadChunk, uplinkFromClient, uploadEncoded } from '@haven/agent';
import type { ChunkSink, EncodedChunk, PendingChunk } from '@haven/agent';
import type { Corpus } from './corpus.js';

type FileChange = MessageInitShape<typeof FileChangeSchema>;

/** One chunk's upload message, encoded ahead of time exactly as the agent would send it. */
interface ReplayChunk {
  readonly id: Uint8Array;
  readonly encoded: EncodedChunk;
}

/** One commit: its distinct chunks (data and list chunks) and its changes. */
export interface ReplayBatch {
  readonly chunks: readonly ReplayChunk[];
  readonly changes: readonly FileChange[];
}

const FIND_MISSING_BATCH = 4096;
const WINDOW_BYTES = 32 * 1024 * 1024;

/**
 * Does the agent's share of ingest ahead of time: reads, cuts (FastCDC), hashes and
 * compresses (zstd level 3, raw when that does not shrink) every file of `corpus`, batch by
 * batch, into the upload messages an agent would send. Replaying them (replayIngest) then
 * costs the sender little more than the transport, so the controller's own capacity shows:
 * in production the agent's CPU is the protected host's, not the controller's.
 */
export async function prepareReplay(corpus: Corpus, corpusDir: string, filesPerCommit: number, dirs: readonly FileChange[]): Promise<ReplayBatch[]> {
  const compress = createZstdCompressor(3);
  const encode = (c: PendingChunk): ReplayChunk => ({ id: chunkIdToBytes(c.id), encoded: encodeUploadChunk(c, compress(c.raw)) });

  const batches: ReplayBatch[] = [];
  for (let b = 0; b < corpus.files.length; b += filesPerCommit) {
    const chunks = new Map<string, ReplayChunk>();
    const sink: ChunkSink = {
      stats: { offered: 0, sent: 0, sentBytes: 0, rawBytes: 0 },
      add: async (c) => {
        if (!chunks.has(c.id)) chunks.set(c.id, encode(c));
      },
      flush: async () => undefined,
    };
    const changes: FileChange[] = b === 0 ? [...dirs] : [];
    for (const f of corpus.files.slice(b, b + filesPerCommit)) {
      const sender = createContentSender(sink);
      await sender.push(await readFile(join(corpusDir, ...f.path.split('/'))));
      const sent = await sender.finish();
      changes.push({ path: f.path, type: EntryType.FILE, mode: 0o644, size: BigInt(f.size), contentRoot: chunkIdToBytes(sent.contentRoot) });
    }
    changes.sort((x, y) => ((x.path ?? '') < (y.path ?? '') ? -1 : 1));
    batches.push({ chunks: [...chunks.values()], changes });
  }
  return batches;
}

export interface ReplayTotals {
  chunksOffered: number;
  chunksSent: number;
  bytesSent: number;
  commits: number;
  /** Wall time spent in each step, summed over batches. */
  findMissingMs: number;
  uploadMs: number;
  commitMs: number;
}

/**
 * Replays prepared batches against a controller as an agent's pipeline would: per batch
 * find-missing, one upload stream of the missing chunks within the granted window, commit.
 */
export async function replayIngest(agent: Client<typeof AgentService>, set: string, batches: readonly ReplayBatch[]): Promise<ReplayTotals> {
  const uplink = uplinkFromClient(agent);
  const totals: ReplayTotals = { chunksOffered: 0, chunksSent: 0, bytesSent: 0, commits: 0, findMissingMs: 0, uploadMs: 0, commitMs: 0 };
  for (const [n, batch] of batches.entries()) {
    const t0 = performance.now();
    const missing: ReplayChunk[] = [];
    for (let i = 0; i < batch.chunks.length; i += FIND_MISSING_BATCH) {
      const part = batch.chunks.slice(i, i + FIND_MISSING_BATCH);
      const res = await agent.findMissingChunks({ set, ids: part.map((c) => c.id) });
      for (const idx of res.missingIndexes) missing.push(part[idx]!);
    }
    totals.chunksOffered += batch.chunks.length;
    const t1 = performance.now();
    totals.findMissingMs += t1 - t0;
    if (missing.length > 0) {
      await uploadEncoded(uplink, set, messagesOf(missing), missing.length, WINDOW_BYTES);
      totals.chunksSent += missing.length;
      totals.bytesSent += missing.reduce((a, c) => a + c.encoded.dataBytes, 0);
    }
    const t2 = performance.now();
    totals.uploadMs += t2 - t1;
    await agent.commit({ set, epoch: 1n, batchId: `replay-${n}`, changes: [...batch.changes] });
    totals.commitMs += performance.now() - t2;
    totals.commits++;
  }
  return totals;
}

async function* messagesOf(chunks: readonly ReplayChunk[]): AsyncGenerator<EncodedChunk> {
  for (const c of chunks) yield c.encoded;
}
