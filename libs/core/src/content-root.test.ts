import { describe, expect, it } from 'vitest';
import { chunkIdOf } from './chunk-id.js';
import type { ChunkId } from './chunk-id.js';
import {
  DEFAULT_LIST_SHAPE,
  EMPTY_CONTENT_ROOT,
  buildContentRoot,
  buildContentRootWithShape,
  decodeListChunk,
  iterateContentRoot,
  resolveContentRoot,
} from './content-root.js';
import type { ContentRoot, DataChunkRef, FetchChunk, ListEntry, ListShape } from './content-root.js';
import { HavenError, notFound } from './errors.js';
import { prngBytes, prngInts } from './test-support/prng.js';

/** `n` distinct pseudo-random chunk ids. */
function ids(n: number, seed: number): ChunkId[] {
  const raw = Buffer.from(prngBytes(32 * n, seed));
  const out = new Array<ChunkId>(n);
  for (let i = 0; i < n; i++) out[i] = raw.toString('hex', 32 * i, 32 * i + 32);
  return out;
}

function refs(n: number, seed: number): DataChunkRef[] {
  return ids(n, seed).map((id, i) => ({ id, length: 200_000 + ((i * 7919) % 900_000) }));
}

/** A chunk store as a Map: what the resolver would get from the pack store. */
function storeOf(...roots: ContentRoot[]): { fetch: FetchChunk; map: Map<ChunkId, Uint8Array>; fetched: ChunkId[] } {
  const map = new Map<ChunkId, Uint8Array>();
  const fetched: ChunkId[] = [];
  for (const r of roots) for (const c of r.listChunks) map.set(c.id, c.bytes);
  const fetch: FetchChunk = async (id) => {
    fetched.push(id);
    const bytes = map.get(id);
    if (bytes === undefined) throw notFound(`chunk ${id} not found`);
    return bytes;
  };
  return { fetch, map, fetched };
}

/** Independent encoder written from the format comment, to pin the wire format. */
function encode(level: number, entries: Array<{ id: string; length: number; chunks?: number }>): Uint8Array {
  const out: number[] = [1, level];
  const uvarint = (v: number): void => {
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  };
  uvarint(entries.length);
  for (const e of entries) {
    out.push(...Buffer.from(e.id, 'hex'));
    uvarint(e.length);
    if (level > 0) uvarint(e.chunks ?? 1);
  }
  return Uint8Array.from(out);
}

function flipBit(bytes: Uint8Array, at: number, bit: number): void {
  bytes[at] = bytes[at]! ^ (1 << bit);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<HavenError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HavenError);
  expect((err as HavenError).code).toBe(code);
  return err as HavenError;
}

const tiny: ListShape = { singleMaxBytes: 512, markerMask: 0x7, minEntries: 2, maxEntries: 32 };

describe('buildContentRoot', () => {
  it('pins the format: the empty root and a small list', () => {
    expect(Array.from(EMPTY_CONTENT_ROOT.bytes)).toEqual([1, 0, 0]);
    expect(EMPTY_CONTENT_ROOT.id).toBe('396eab8ebe8b2247fed631cee54835e0c8678ab1cc0d5b8a73f9f86e813187d5');
    const entries = [0, 1, 2].map((i) => ({ id: String(i).repeat(64), length: 1000 * (i + 1) }));
    const root = buildContentRoot(entries);
    expect(root.listChunks).toHaveLength(1);
    expect(Buffer.from(root.listChunks[0]!.bytes).equals(Buffer.from(encode(0, entries)))).toBe(true);
    expect(root.rootId).toBe('39ddb573bec5a1b0273d16fc80920025dbfc5827a33fc9e6164c5e6b6a26a637');
    expect(root.rootId).toBe(chunkIdOf(root.listChunks[0]!.bytes));
    expect(root.totalSize).toBe(6000);
    expect(root.chunkCount).toBe(3);
  });

  it('gives the empty file the canonical empty root, resolved without a fetch', async () => {
    const root = buildContentRoot([]);
    expect(root).toEqual({ rootId: EMPTY_CONTENT_ROOT.id, listChunks: [EMPTY_CONTENT_ROOT], totalSize: 0, chunkCount: 0 });
    const { fetch, fetched } = storeOf();
    expect(await resolveContentRoot(EMPTY_CONTENT_ROOT.id, fetch)).toEqual([]);
    expect(fetched).toEqual([]);
    expect(decodeListChunk(EMPTY_CONTENT_ROOT.bytes)).toEqual({ level: 0, entries: [] });
  });

  it.each([
    [[{ id: 'abc', length: 1 }], 'not a chunk id'],
    [[{ id: 'A'.repeat(64), length: 1 }], 'not a chunk id'],
    [[{ id: 'a'.repeat(64), length: 0 }], 'positive integer'],
    [[{ id: 'a'.repeat(64), length: -5 }], 'positive integer'],
    [[{ id: 'a'.repeat(64), length: 1.5 }], 'positive integer'],
    [[{ id: 'a'.repeat(64), length: Number.MAX_SAFE_INTEGER }, { id: 'b'.repeat(64), length: 2 }], 'exceeds 2^53-1'],
  ])('rejects bad entries %#', (entries, message) => {
    expect(() => buildContentRoot(entries)).toThrow(HavenError);
    expect(() => buildContentRoot(entries)).toThrow(message);
  });

  it('round-trips a small list as one list chunk', async () => {
    const entries = refs(1000, 1);
    const root = buildContentRoot(entries);
    expect(root.listChunks).toHaveLength(1);
    expect(decodeListChunk(root.listChunks[0]!.bytes).level).toBe(0);
    const { fetch } = storeOf(root);
    expect(await resolveContentRoot(root.rootId, fetch)).toEqual(entries);
    expect(root.totalSize).toBe(entries.reduce((a, e) => a + e.length, 0));
  });

  it('round-trips 1M entries; list chunks stay bounded and the root comes last', async () => {
    const entries = refs(1_000_000, 2);
    const root = buildContentRoot(entries);
    expect(root.chunkCount).toBe(1_000_000);
    expect(root.listChunks.at(-1)!.id).toBe(root.rootId);
    const top = decodeListChunk(root.listChunks.at(-1)!.bytes);
    expect(top.level).toBe(1);
    expect(top.entries.reduce((a, e) => a + e.chunks, 0)).toBe(1_000_000);
    for (const c of root.listChunks) {
      expect(c.bytes.length).toBeLessThanOrEqual(DEFAULT_LIST_SHAPE.maxEntries * 50);
      expect(chunkIdOf(c.bytes)).toBe(c.id);
    }
    // ~1,024 entries per list chunk on average.
    expect(root.listChunks.length).toBeGreaterThan(700);
    expect(root.listChunks.length).toBeLessThan(1400);
    const { fetch } = storeOf(root);
    const back = await resolveContentRoot(root.rootId, fetch);
    expect(back.length).toBe(entries.length);
    // A plain loop: a deep equal over 1M objects alone takes seconds.
    let mismatch = -1;
    for (let i = 0; i < entries.length && mismatch < 0; i++) {
      if (back[i]!.id !== entries[i]!.id || back[i]!.length !== entries[i]!.length) mismatch = i;
    }
    expect(mismatch).toBe(-1);
  });

  it('builds a deep tree and walks it in batches', async () => {
    const entries = refs(100_000, 3);
    const root = buildContentRootWithShape(entries, tiny);
    expect(decodeListChunk(root.listChunks.at(-1)!.bytes).level).toBeGreaterThanOrEqual(4);
    const { fetch, fetched } = storeOf(root);
    const seen: DataChunkRef[] = [];
    let biggest = 0;
    for await (const batch of iterateContentRoot(root.rootId, fetch)) {
      biggest = Math.max(biggest, batch.length);
      seen.push(...batch);
    }
    expect(biggest).toBeLessThanOrEqual(tiny.maxEntries);
    expect(seen).toEqual(entries);
    expect(new Set(fetched).size).toBe(root.listChunks.length);
  });

  it('an edit of one data chunk in a 200k-chunk list changes only a few list chunks', () => {
    const entries = refs(200_000, 4);
    const before = buildContentRoot(entries);
    const old = new Set(before.listChunks.map((c) => c.id));
    const edited = entries.slice();
    edited[123_456] = { id: ids(1, 99)[0]!, length: 4096 };
    const after = buildContentRoot(edited);
    const fresh = after.listChunks.filter((c) => !old.has(c.id));
    expect(before.listChunks.length).toBeGreaterThan(100);
    expect(after.rootId).not.toBe(before.rootId);
    expect(fresh.length).toBeGreaterThanOrEqual(2);
    expect(fresh.length).toBeLessThanOrEqual(4);

    // Inserting chunks shifts every later entry, yet the list chunks resynchronise.
    const inserted = [...entries.slice(0, 50_000), ...refs(3, 98), ...entries.slice(50_000)];
    const fresh2 = buildContentRoot(inserted).listChunks.filter((c) => !old.has(c.id));
    expect(fresh2.length).toBeLessThanOrEqual(4);

    // Same in a deep tree: one changed list chunk per level, at most a neighbour more.
    const deepBefore = buildContentRootWithShape(entries.slice(0, 50_000), tiny);
    const deepOld = new Set(deepBefore.listChunks.map((c) => c.id));
    const deepEdited = entries.slice(0, 50_000);
    deepEdited[25_000] = { id: ids(1, 97)[0]!, length: 1 };
    const deepAfter = buildContentRootWithShape(deepEdited, tiny);
    const levels = decodeListChunk(deepAfter.listChunks.at(-1)!.bytes).level + 1;
    expect(deepAfter.listChunks.filter((c) => !deepOld.has(c.id)).length).toBeLessThanOrEqual(2 * levels);
  });

  it('stores identical list chunks once (a huge sparse file of one repeated chunk)', async () => {
    const zero = ids(1, 5)[0]!;
    const entries = Array.from({ length: 100_000 }, () => ({ id: zero, length: 1 << 20 }));
    const root = buildContentRoot(entries);
    expect(root.listChunks.length).toBeLessThanOrEqual(3);
    const { fetch } = storeOf(root);
    expect(await resolveContentRoot(root.rootId, fetch)).toEqual(entries);
  });
});

describe('decodeListChunk', () => {
  const id = 'ab'.repeat(32);
  const valid = encode(0, [{ id, length: 10 }]);

  it.each<[string, Uint8Array]>([
    ['empty', new Uint8Array(0)],
    ['header only', Uint8Array.of(1, 0)],
    ['unknown version', Uint8Array.of(2, 0, 0)],
    ['version 0', Uint8Array.of(0, 0, 0)],
    ['level too deep', Uint8Array.of(1, 17, 0)],
    ['count beyond the bytes', Uint8Array.of(1, 0, 5, ...valid.subarray(3))],
    ['huge count', Uint8Array.of(1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)],
    ['truncated count varint', Uint8Array.of(1, 0, 0x80)],
    ['non-minimal count', Uint8Array.of(1, 0, 0x81, 0x00, ...valid.subarray(3))],
    ['truncated id', valid.subarray(0, 20)],
    ['missing length', valid.subarray(0, 35)],
    ['zero length', encode(0, [{ id, length: 0 }])],
    ['trailing bytes', Uint8Array.of(...valid, 0)],
    ['parent without entries', Uint8Array.of(1, 1, 0)],
    ['parent with zero chunks', encode(1, [{ id, length: 10, chunks: 0 }])],
    ['parent with more chunks than bytes', encode(1, [{ id, length: 10, chunks: 11 }])],
    ['length beyond 2^53', Uint8Array.of(1, 0, 1, ...Buffer.from(id, 'hex'), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)],
    ['length varint too long', Uint8Array.of(1, 0, 1, ...Buffer.from(id, 'hex'), ...Array<number>(9).fill(0x80), 1)],
  ])('%s -> CORRUPT', (_name, bytes) => {
    let err: unknown;
    try {
      decodeListChunk(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HavenError);
    expect((err as HavenError).code).toBe('CORRUPT');
  });

  it('decodes parents with byte and chunk counts', () => {
    const entries: ListEntry[] = [
      { id, length: 5_000_000_000, chunks: 4000 },
      { id: 'cd'.repeat(32), length: 300, chunks: 2 },
    ];
    expect(decodeListChunk(encode(2, entries))).toEqual({ level: 2, entries });
  });

  it('fuzz: random and mutated input never throws anything but CORRUPT', () => {
    const rnd = prngInts(12345);
    const seeds = buildContentRootWithShape(refs(2000, 6), tiny).listChunks.map((c) => c.bytes);
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      let bytes: Uint8Array;
      const mode = rnd(4);
      if (mode === 0) {
        bytes = prngBytes(rnd(200), i + 1);
        if (bytes.length > 0 && rnd(2) === 0) bytes[0] = 1;
        if (bytes.length > 1 && rnd(2) === 0) bytes[1] = rnd(3);
      } else {
        bytes = seeds[rnd(seeds.length)]!.slice();
        if (mode === 1) flipBit(bytes, rnd(bytes.length), rnd(8));
        else if (mode === 2) bytes = bytes.subarray(0, rnd(bytes.length));
        else bytes = Uint8Array.of(...bytes, ...prngBytes(1 + rnd(40), i));
      }
      try {
        decodeListChunk(bytes);
        decoded++;
      } catch (err) {
        expect(err).toBeInstanceOf(HavenError);
        expect((err as HavenError).code).toBe('CORRUPT');
      }
    }
    // Some mutations (a flipped id bit) stay well-formed; the resolver's id check catches those.
    expect(decoded).toBeGreaterThan(0);
  });
});

describe('resolveContentRoot', () => {
  const entries = refs(5000, 7);
  const root = buildContentRootWithShape(entries, tiny);

  it('rejects a malformed root id', async () => {
    await expectCode(resolveContentRoot('nope', storeOf(root).fetch), 'INVALID_ARGUMENT');
  });

  it('propagates fetch errors unchanged', async () => {
    const { fetch, map } = storeOf(root);
    map.delete(root.listChunks[0]!.id);
    await expectCode(resolveContentRoot(root.rootId, fetch), 'NOT_FOUND');
  });

  it('refuses a list chunk whose bytes do not match its id', async () => {
    const { fetch, map } = storeOf(root);
    const victim = root.listChunks[3]!;
    const flipped = victim.bytes.slice();
    flipBit(flipped, flipped.length - 1, 0);
    map.set(victim.id, flipped);
    const err = await expectCode(resolveContentRoot(root.rootId, fetch), 'CORRUPT');
    expect(err.message).toContain('does not match its id');
  });

  it('refuses a child at the wrong level or with counts that disagree with its parent', async () => {
    const leaf = encode(0, [{ id: entries[0]!.id, length: 100 }]);
    const leafId = chunkIdOf(leaf);
    const cases: Array<[string, Uint8Array]> = [
      ['level', encode(2, [{ id: leafId, length: 100, chunks: 1 }])],
      ['bytes', encode(1, [{ id: leafId, length: 101, chunks: 1 }])],
      ['chunks', encode(1, [{ id: leafId, length: 100, chunks: 2 }])],
    ];
    for (const [what, parent] of cases) {
      const map = new Map<ChunkId, Uint8Array>([
        [leafId, leaf],
        [chunkIdOf(parent), parent],
      ]);
      const fetch: FetchChunk = async (id) => map.get(id) ?? Promise.reject(notFound(id));
      const err = await expectCode(resolveContentRoot(chunkIdOf(parent), fetch), 'CORRUPT');
      expect(err.message).toMatch(what === 'level' ? /level/ : /parent says/);
    }
  });

  it('never throws anything but HavenError on a store full of garbage', async () => {
    const rnd = prngInts(777);
    for (let i = 0; i < 100; i++) {
      const { fetch, map } = storeOf(root);
      const victim = root.listChunks[rnd(root.listChunks.length)]!;
      const bytes = victim.bytes.slice();
      flipBit(bytes, rnd(bytes.length), rnd(8));
      // Store the mutated bytes under their own id too, as a consistent but lying store would.
      map.set(victim.id, bytes);
      const result = await resolveContentRoot(root.rootId, fetch).then(
        () => 'ok',
        (err: unknown) => (err instanceof HavenError ? err.code : 'BAD'),
      );
      expect(result).toBe('CORRUPT');
    }
  });

  it('stops cleanly when the consumer stops early', async () => {
    const { fetch, map } = storeOf(root);
    // Break the last list chunks: a prefetch may hit them, but nobody awaits it.
    for (const c of root.listChunks.slice(0, -1).slice(-5)) map.delete(c.id);
    for await (const batch of iterateContentRoot(root.rootId, fetch)) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
  });
});
