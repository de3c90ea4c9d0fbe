import { EMPTY_CONTENT_ROOT, iterateContentRoot } from '@haven/core';
import type { ChunkId } from '@haven/core';
import type { ChunkStore } from '../store/chunk-store.js';

/**
 * Every chunk a content root reaches: its list chunks and its data chunks. `visit` is
 * called once per (root, chunk). A list chunk that cannot be read is reported through
 * `onUnreadable` and its subtree skipped, so one damaged list does not hide the others.
 */
export async function walkContentRoot(
  store: ChunkStore,
  root: ChunkId,
  visit: (id: ChunkId) => void,
  onUnreadable: (id: ChunkId, err: unknown) => void,
): Promise<void> {
  if (root === EMPTY_CONTENT_ROOT.id) return;
  let current: ChunkId = root;
  const fetch = async (id: ChunkId): Promise<Uint8Array> => {
    current = id;
    visit(id);
    return store.get(id);
  };
  try {
    for await (const batch of iterateContentRoot(root, fetch)) for (const ref of batch) visit(ref.id);
  } catch (err) {
    onUnreadable(current, err);
  }
}
