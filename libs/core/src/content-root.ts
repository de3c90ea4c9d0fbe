import { CHUNK_ID_BYTES, chunkIdOf, isChunkId } from './chunk-id.js';
import type { ChunkId } from './chunk-id.js';
import { asPlainBytes } from './concat-bytes.js';
import { corrupt, invalidArgument } from './errors.js';

/**
 * A file's content is its ordered list of data chunks. That list is itself stored as chunks
 * ("list chunks"), so the content root (the id of the top list chunk) names the whole content.
 *
 * Small lists (encoded <= 64 KiB: about 1,800 chunks, ~2 GB of file) are one list chunk. Larger
 * lists are cut content-defined: after an entry whose id's low bits are zero (ids are BLAKE3,
 * so these bits are uniform), giving ~1,024 entries per list chunk. An edit in the middle of a
 * huge file then changes only the list chunk around it and its parents; every other list
 * chunk keeps its id and dedups. Each level of list chunks is listed by a parent level, in the
 * same way, until one chunk remains: a Merkle tree whose leaves are the data chunks.
 *
 * List chunk format v1 (all of it covered by the chunk's id, so any bit flip is detected):
 *   u8 version (1) | u8 level | uvarint count | count x entry
 *   entry, level 0:  id[32] uvarint length            (a data chunk)
 *   entry, level >0: id[32] uvarint length uvarint chunks (a list chunk one level down:
 *                    the data bytes and data chunks below it)
 * uvarints are unsigned LEB128, minimal, <= 2^53-1. Nothing may follow the last entry.
 */

/** A data chunk of a file, in file order. */
export interface DataChunkRef {
  readonly id: ChunkId;
  readonly length: number;
}

/** An entry of a list chunk: a data chunk (level 0, chunks = 1) or a list chunk one level down. */
export interface ListEntry {
  readonly id: ChunkId;
  /** Data bytes this entry stands for. */
  readonly length: number;
  /** Data chunks this entry stands for. */
  readonly chunks: number;
}

export interface DecodedListChunk {
  /** 0: entries are data chunks; n > 0: entries are list chunks of level n-1. */
  readonly level: number;
  readonly entries: ListEntry[];
}

export interface ListChunk {
  readonly id: ChunkId;
  readonly bytes: Uint8Array;
}

export interface ContentRoot {
  readonly rootId: ChunkId;
  /** Every list chunk of the tree, each once, root last. Store them all; most will already exist. */
  readonly listChunks: ListChunk[];
  readonly totalSize: number;
  readonly chunkCount: number;
}

export const LIST_CHUNK_VERSION = 1;
/** Deeper than any real tree (level 4 already covers ~10^15 data chunks); bounds hostile input. */
export const LIST_MAX_LEVEL = 16;
/** Decoder limit; the builder stays far below it (<= 8,192 entries of <= 50 bytes). */
export const LIST_CHUNK_MAX_BYTES = 4 * 1024 * 1024;

/** How a level is cut into list chunks. Part of the stored format: ids depend on it. */
export interface ListShape {
  /** A whole level that encodes to at most this many bytes is one list chunk. */
  readonly singleMaxBytes: number;
  /** Cut after an entry whose id's last 32 bits AND this mask are zero ... */
  readonly markerMask: number;
  /** ... once the list chunk has at least this many entries ... */
  readonly minEntries: number;
  /** ... and always at this many. */
  readonly maxEntries: number;
}

export const DEFAULT_LIST_SHAPE: ListShape = Object.freeze({
  singleMaxBytes: 64 * 1024,
  markerMask: 0x3ff,
  minEntries: 16,
  maxEntries: 8192,
});

/** The empty file's list chunk: version 1, level 0, no entries. */
const EMPTY_LIST_BYTES = Uint8Array.of(LIST_CHUNK_VERSION, 0, 0);

/** The empty file's content root: canonical, the same on every host and site. */
export const EMPTY_CONTENT_ROOT: ListChunk = Object.freeze({
  id: chunkIdOf(EMPTY_LIST_BYTES),
  bytes: EMPTY_LIST_BYTES,
});

/** Builds the list chunks of a file's chunk list (INVALID_ARGUMENT on a bad id or length). */
export function buildContentRoot(entries: readonly DataChunkRef[]): ContentRoot {
  return buildContentRootWithShape(entries, DEFAULT_LIST_SHAPE);
}

/** `buildContentRoot` with an explicit shape: for tests that need deep trees from few entries. */
export function buildContentRootWithShape(entries: readonly DataChunkRef[], shape: ListShape): ContentRoot {
  let totalSize = 0;
  let level: ListEntry[] = new Array<ListEntry>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (typeof e.id !== 'string' || !isChunkId(e.id)) {
      throw invalidArgument(`chunk list entry ${i}: not a chunk id: ${String(e.id).slice(0, 80)}`);
    }
    if (!Number.isSafeInteger(e.length) || e.length < 1) {
      throw invalidArgument(`chunk list entry ${i}: length must be a positive integer, got ${String(e.length)}`);
    }
    totalSize += e.length;
    level[i] = { id: e.id, length: e.length, chunks: 1 };
  }
  if (!Number.isSafeInteger(totalSize)) throw invalidArgument('chunk list total size exceeds 2^53-1 bytes');
  if (entries.length === 0) {
    return { rootId: EMPTY_CONTENT_ROOT.id, listChunks: [EMPTY_CONTENT_ROOT], totalSize: 0, chunkCount: 0 };
  }

  const listChunks = new Map<ChunkId, ListChunk>();
  for (let depth = 0; ; depth++) {
    if (depth > LIST_MAX_LEVEL) throw invalidArgument('chunk list too deep');
    const groups = splitLevel(level, depth, shape);
    const parents: ListEntry[] = [];
    for (const [from, to] of groups) {
      const bytes = encodeListChunk(depth, level, from, to);
      const id = chunkIdOf(bytes);
      if (!listChunks.has(id)) listChunks.set(id, { id, bytes });
      let length = 0;
      let chunks = 0;
      for (let i = from; i < to; i++) {
        length += level[i]!.length;
        chunks += level[i]!.chunks;
      }
      parents.push({ id, length, chunks });
    }
    if (parents.length === 1) {
      const rootId = parents[0]!.id;
      // Root last, so a store that writes in order never holds a root whose children are missing.
      const root = listChunks.get(rootId)!;
      listChunks.delete(rootId);
      listChunks.set(rootId, root);
      return { rootId, listChunks: [...listChunks.values()], totalSize, chunkCount: entries.length };
    }
    level = parents;
  }
}

/** Cuts one level into [from, to) ranges of entries, one per list chunk. */
function splitLevel(level: readonly ListEntry[], depth: number, shape: ListShape): Array<[number, number]> {
  let size = 2 + uvarintSize(level.length);
  for (const e of level) size += entrySize(depth, e);
  if (size <= shape.singleMaxBytes) return [[0, level.length]];
  const groups: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < level.length; i++) {
    const count = i - start + 1;
    if (count >= shape.maxEntries || (count >= shape.minEntries && isMarker(level[i]!.id, shape.markerMask))) {
      groups.push([start, i + 1]);
      start = i + 1;
    }
  }
  if (start < level.length) groups.push([start, level.length]);
  return groups;
}

function isMarker(id: ChunkId, mask: number): boolean {
  return (Number.parseInt(id.slice(56, 64), 16) & mask) === 0;
}

function entrySize(level: number, e: ListEntry): number {
  return CHUNK_ID_BYTES + uvarintSize(e.length) + (level > 0 ? uvarintSize(e.chunks) : 0);
}

function encodeListChunk(level: number, entries: readonly ListEntry[], from: number, to: number): Uint8Array {
  let size = 2 + uvarintSize(to - from);
  for (let i = from; i < to; i++) size += entrySize(level, entries[i]!);
  const out = Buffer.allocUnsafeSlow(size);
  out[0] = LIST_CHUNK_VERSION;
  out[1] = level;
  let at = writeUvarint(out, 2, to - from);
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    out.write(e.id, at, CHUNK_ID_BYTES, 'hex');
    at = writeUvarint(out, at + CHUNK_ID_BYTES, e.length);
    if (level > 0) at = writeUvarint(out, at, e.chunks);
  }
  return asPlainBytes(out);
}

/** Parses and validates one list chunk; CORRUPT (never another error) on anything malformed. */
export function decodeListChunk(bytes: Uint8Array): DecodedListChunk {
  if (!(bytes instanceof Uint8Array)) throw corrupt('list chunk is not bytes');
  if (bytes.length > LIST_CHUNK_MAX_BYTES) throw corrupt(`list chunk too large: ${bytes.length} bytes`);
  if (bytes.length < 3) throw corrupt(`list chunk truncated: ${bytes.length} bytes`);
  if (bytes[0] !== LIST_CHUNK_VERSION) throw corrupt(`list chunk version ${bytes[0]!} not supported`);
  const level = bytes[1]!;
  if (level > LIST_MAX_LEVEL) throw corrupt(`list chunk level ${level} exceeds ${LIST_MAX_LEVEL}`);
  const reader = { at: 2 };
  const count = readUvarint(bytes, reader, 'entry count');
  const minEntry = CHUNK_ID_BYTES + (level > 0 ? 2 : 1);
  if (count > (bytes.length - reader.at) / minEntry) {
    throw corrupt(`list chunk claims ${count} entries but has ${bytes.length - reader.at} bytes left`);
  }
  if (level > 0 && count === 0) throw corrupt(`list chunk at level ${level} has no entries`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries = new Array<ListEntry>(count);
  for (let i = 0; i < count; i++) {
    if (reader.at + CHUNK_ID_BYTES > bytes.length) throw corrupt(`list chunk entry ${i} truncated`);
    const id = view.toString('hex', reader.at, reader.at + CHUNK_ID_BYTES);
    reader.at += CHUNK_ID_BYTES;
    const length = readUvarint(bytes, reader, `entry ${i} length`);
    const chunks = level > 0 ? readUvarint(bytes, reader, `entry ${i} chunk count`) : 1;
    if (chunks < 1 || length < chunks) {
      throw corrupt(`list chunk entry ${i}: ${length} bytes in ${chunks} chunks is impossible`);
    }
    entries[i] = { id, length, chunks };
  }
  if (reader.at !== bytes.length) throw corrupt(`list chunk has ${bytes.length - reader.at} trailing bytes`);
  return { level, entries };
}

/** Fetches a stored chunk by id (a store read, a local cache, an RPC ...). */
export type FetchChunk = (id: ChunkId) => Promise<Uint8Array>;

/** How many sibling list chunks are fetched ahead while walking a level, to hide store latency. */
const PREFETCH = 8;

/**
 * Walks a content root and yields its data chunks in file order, one batch per level-0 list
 * chunk (at most a few thousand refs), so a huge file never needs its whole list in memory.
 * Every fetched list chunk must hash to its id and agree with its parent's level, byte and chunk
 * counts (CORRUPT otherwise); fetch errors propagate unchanged.
 */
export async function* iterateContentRoot(
  rootId: ChunkId,
  fetch: FetchChunk,
): AsyncGenerator<readonly DataChunkRef[], void, undefined> {
  if (typeof rootId !== 'string' || !isChunkId(rootId)) {
    throw invalidArgument(`not a content root id: ${String(rootId).slice(0, 80)}`);
  }
  if (rootId === EMPTY_CONTENT_ROOT.id) return;
  const root = await fetchList(rootId, fetch);
  yield* walk(root, fetch);
}

/** All data chunks of a content root, in file order (see `iterateContentRoot`). */
export async function resolveContentRoot(rootId: ChunkId, fetch: FetchChunk): Promise<DataChunkRef[]> {
  const out: DataChunkRef[] = [];
  for await (const batch of iterateContentRoot(rootId, fetch)) {
    for (const ref of batch) out.push(ref);
  }
  return out;
}

async function fetchList(id: ChunkId, fetch: FetchChunk): Promise<DecodedListChunk> {
  const bytes = await fetch(id);
  if (!(bytes instanceof Uint8Array)) throw corrupt(`list chunk ${id}: fetch returned no bytes`);
  if (chunkIdOf(bytes) !== id) throw corrupt(`list chunk ${id}: content does not match its id`);
  return decodeListChunk(bytes);
}

async function* walk(list: DecodedListChunk, fetch: FetchChunk): AsyncGenerator<readonly DataChunkRef[], void, undefined> {
  if (list.level === 0) {
    yield list.entries.map((e) => ({ id: e.id, length: e.length }));
    return;
  }
  const children = list.entries;
  const inflight: Array<Promise<DecodedListChunk>> = [];
  const start = (i: number): void => {
    const p = fetchList(children[i]!.id, fetch);
    // Rejections surface when awaited below; this only keeps an abandoned walk from
    // reporting an unhandled rejection.
    p.catch(() => undefined);
    inflight.push(p);
  };
  for (let i = 0; i < Math.min(PREFETCH, children.length); i++) start(i);
  for (let i = 0; i < children.length; i++) {
    const child = await inflight.shift()!;
    if (i + PREFETCH < children.length) start(i + PREFETCH);
    const expect = children[i]!;
    if (child.level !== list.level - 1) {
      throw corrupt(`list chunk ${expect.id}: level ${child.level}, parent expects ${list.level - 1}`);
    }
    let length = 0;
    let chunks = 0;
    for (const e of child.entries) {
      length += e.length;
      chunks += e.chunks;
    }
    if (length !== expect.length || chunks !== expect.chunks) {
      throw corrupt(
        `list chunk ${expect.id}: holds ${length} bytes in ${chunks} chunks, parent says ${expect.length} in ${expect.chunks}`,
      );
    }
    yield* walk(child, fetch);
  }
}

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function writeUvarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

/** Reads a minimal unsigned LEB128 <= 2^53-1 at reader.at; CORRUPT otherwise. */
function readUvarint(bytes: Uint8Array, reader: { at: number }, what: string): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (reader.at >= bytes.length) throw corrupt(`list chunk ${what} truncated`);
    const b = bytes[reader.at++]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw corrupt(`list chunk ${what} is not minimally encoded`);
      if (!Number.isSafeInteger(value)) throw corrupt(`list chunk ${what} exceeds 2^53-1`);
      return value;
    }
    scale *= 0x80;
  }
  throw corrupt(`list chunk ${what} exceeds 2^53-1`);
}
