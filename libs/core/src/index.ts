export {
  ERROR_CODES,
  HavenError,
  corrupt,
  errorCodeOf,
  findHavenError,
  invalidArgument,
  isErrorCode,
  notFound,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { createManualClock, systemClock } from './clock.js';
export type { Clock, ManualClock } from './clock.js';
export {
  CHUNK_ID_BYTES,
  chunkIdBytesOf,
  chunkIdFromBytes,
  chunkIdOf,
  chunkIdToBytes,
  createHasher,
  isChunkId,
} from './chunk-id.js';
export type { ChunkId, IncrementalHasher } from './chunk-id.js';
