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
export { parsePointSpec } from './point-spec.js';
export { zstdFrameContentSize } from './zstd-frame.js';
export { formatEnrollmentToken, parseEnrollmentToken } from './enrollment-token.js';
export type { EnrollmentTokenParts } from './enrollment-token.js';
export type { PointSpec } from './point-spec.js';
export {
  FASTCDC_DEFAULTS,
  FASTCDC_LIMITS,
  createFastCdc,
  fastCdcCuts,
  fastCdcParams,
  nextCut,
} from './fastcdc.js';
export type { FastCdcChunker, FastCdcOptions, FastCdcParams } from './fastcdc.js';
export { FIXED_BLOCK_DEFAULT, FIXED_BLOCK_LIMITS, createFixedSplitter, isAllZero } from './fixed-splitter.js';
export type { FixedSplitter, FixedSplitterOptions } from './fixed-splitter.js';
export {
  EMPTY_CONTENT_ROOT,
  LIST_CHUNK_MAX_BYTES,
  LIST_CHUNK_VERSION,
  LIST_MAX_LEVEL,
  buildContentRoot,
  decodeListChunk,
  iterateContentRoot,
  resolveContentRoot,
} from './content-root.js';
export type {
  ContentRoot,
  DataChunkRef,
  DecodedListChunk,
  FetchChunk,
  ListChunk,
  ListEntry,
} from './content-root.js';
export { DURATION_UNITS_MS, formatDuration, parseDuration } from './duration.js';
export type { DurationUnit } from './duration.js';
export { KEEP_ALL_POLICY, formatRetentionPolicy, parseRetentionPolicy, planRetention } from './retention.js';
export type { RetentionDecision, RetentionPoint, RetentionPolicy, RetentionRule } from './retention.js';
export { baseNameOf, isWithin, joinRelPath, normalizeRelPath, parentOf } from './paths.js';
export { GLOB_MAX_LENGTH, compileGlob, createExcludeMatcher } from './glob.js';
export type { GlobMatcher } from './glob.js';
export { createZstdCompressor } from './zstd-compressor.js';
