export { localRestore } from './local-restore.js';
export type { LocalRestoreOptions, LocalRestoreReport, RestoreEntry, RestoreFailure } from './local-restore.js';
export { createChunkBatcher } from './chunk-batcher.js';
export type { ChunkBatcher, ChunkBatcherOptions, FetchChunks } from './chunk-batcher.js';
export { entrySegments, openRestoreTarget } from './restore-target.js';
export type { RestoreTarget } from './restore-target.js';
export { decodeWireChunk } from './wire-chunk.js';
