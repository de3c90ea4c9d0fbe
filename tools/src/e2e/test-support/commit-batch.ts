import { HavenError, chunkIdToBytes } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { EntryType } from '@haven/proto';
import type { AgentService, Client } from '@haven/proto';
import { sendContent } from '@haven/agent';
import type { ChunkUploader } from '@haven/agent';
import { bytesOf } from './content-chunks.js';
import type { ExpectedTree } from './read-back.js';
import { withDeadline } from './with-deadline.js';

export type AgentClient = Client<typeof AgentService>;

/** One change batch of a writer: whole files put and paths deleted (a rename is both). */
export interface Batch {
  /** The commit's idempotency key: a retry after a lost answer reuses it. */
  readonly id: string;
  readonly deletes: readonly string[];
  readonly puts: ReadonlyArray<{ readonly path: string; readonly content: Buffer }>;
}

/** The tree after `batch` (deletes first, then puts, as the controller applies them). */
export function applyBatch(tree: ExpectedTree, batch: Batch): Map<string, Buffer> {
  const next = new Map(tree);
  for (const p of batch.deletes) next.delete(p);
  for (const { path, content } of batch.puts) next.set(path, content);
  return next;
}

export interface BatchOutcome {
  readonly seq: number;
  /** The controller had committed this batch id already (an earlier answer was lost). */
  readonly duplicate: boolean;
  /** Chunks find-missing asked for, over all attempts. */
  readonly sentChunks: number;
  /** Commits refused with FAILED_PRECONDITION (chunks gone since find-missing) and retried. */
  readonly refusals: number;
}

export type BatchPhase = 'upload' | 'commit';

const MAX_REFUSALS = 3;
/** A batch is a few MiB: far longer than this means the upload or the commit is stuck. */
const BATCH_DEADLINE_MS = 30_000;

/**
 * Uploads what the set lacks of the batch's contents (find-missing decides), then commits.
 * A commit refused with FAILED_PRECONDITION means chunks find-missing reported present are
 * gone by commit time (swept by gc, or lost with an unsynced crash): upload again, asking
 * find-missing afresh, and retry with the same batch id.
 */
export function commitBatch(
  agent: AgentClient,
  uploader: ChunkUploader,
  set: string,
  batch: Batch,
  onPhase: (phase: BatchPhase) => void = () => undefined,
): Promise<BatchOutcome> {
  return withDeadline(uploadAndCommit(agent, uploader, set, batch, onPhase), BATCH_DEADLINE_MS, `batch ${batch.id} of set ${set}`);
}

async function uploadAndCommit(
  agent: AgentClient,
  uploader: ChunkUploader,
  set: string,
  batch: Batch,
  onPhase: (phase: BatchPhase) => void,
): Promise<BatchOutcome> {
  let sentChunks = 0;
  for (let refusals = 0; ; refusals++) {
    onPhase('upload');
    const roots: ChunkId[] = [];
    for (const put of batch.puts) {
      const sent = await sendContent(uploader, set, bytesOf(put.content));
      sentChunks += sent.stats.sent;
      roots.push(sent.contentRoot);
    }
    onPhase('commit');
    try {
      const res = await agent.commit({
        set,
        epoch: 1n,
        batchId: batch.id,
        changes: [
          ...batch.deletes.map((path) => ({ path, deleted: true })),
          ...batch.puts.map(({ path, content }, i) => ({
            path,
            type: EntryType.FILE,
            mode: 0o644,
            size: BigInt(content.length),
            contentRoot: chunkIdToBytes(roots[i]!),
          })),
        ],
      });
      return { seq: Number(res.seq), duplicate: res.duplicate, sentChunks, refusals };
    } catch (err) {
      if (!(err instanceof HavenError) || err.code !== 'FAILED_PRECONDITION' || refusals + 1 >= MAX_REFUSALS) throw err;
    }
  }
}
