import { buildContentRoot, chunkIdOf, fastCdcCuts } from '@haven/core';
import type { ChunkId } from '@haven/core';

/** The chunks a file's content becomes, computed the way the agent cuts and lists it. */
export interface ContentChunks {
  readonly root: ChunkId;
  /** Data chunks in file order (repeats kept). */
  readonly data: readonly ChunkId[];
  /** List chunks, root included. */
  readonly lists: readonly ChunkId[];
  /** Every chunk the content root reaches, each once. */
  readonly all: ReadonlySet<ChunkId>;
  /** Plaintext length of each chunk in `all`. */
  readonly sizes: ReadonlyMap<ChunkId, number>;
}

export function contentChunks(content: Uint8Array): ContentChunks {
  const refs: Array<{ id: ChunkId; length: number }> = [];
  let from = 0;
  for (const cut of fastCdcCuts(content)) {
    refs.push({ id: chunkIdOf(content.subarray(from, cut)), length: cut - from });
    from = cut;
  }
  const root = buildContentRoot(refs);
  const sizes = new Map<ChunkId, number>([...refs.map((r) => [r.id, r.length] as const), ...root.listChunks.map((l) => [l.id, l.bytes.length] as const)]);
  const data = refs.map((r) => r.id);
  const lists = root.listChunks.map((l) => l.id);
  return { root: root.rootId, data, lists, all: new Set(sizes.keys()), sizes };
}

/** A content as the stream sendContent reads, in fresh 1 MiB pieces (chunks may be views of them). */
export async function* bytesOf(content: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < content.length; o += 1 << 20) yield content.slice(o, o + (1 << 20));
}
