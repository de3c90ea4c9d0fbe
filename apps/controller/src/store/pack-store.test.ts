import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { HavenError, chunkIdOf } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { describeChunkStoreContract, mixed } from './chunk-store.contract.js';
import type { ChunkStoreFixture } from './chunk-store.contract.js';
import type { ChunkLocation } from './chunk-store.js';
import { createPackStore } from './pack-store.js';
import type { PackStore, PackStoreOptions } from './pack-store.js';
import { RECORD_HEADER_BYTES } from './pack-record.js';

type Opts = Omit<PackStoreOptions, 'dir' | 'key'>;

async function fixture(opts: Opts = {}): Promise<ChunkStoreFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'haven-pack-'));
  const key = randomBytes(32);
  let current = await createPackStore({ dir, key, ...opts });
  return {
    store: current,
    reopen: async () => (current = await createPackStore({ dir, key, ...opts })),
    corrupt: async (id) => {
      const loc = await locate(current, id);
      await flipByte(current.packPath(loc.pack), loc.offset + RECORD_HEADER_BYTES + 1);
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeChunkStoreContract('pack store', () => fixture());
describeChunkStoreContract('pack store with 64 KiB packs', () => fixture({ packSizeBytes: 64 * 1024 }));

async function locate(store: PackStore, id: ChunkId): Promise<ChunkLocation> {
  for await (const loc of store.list()) if (loc.id === id) return loc;
  throw new Error(`chunk ${id} not listed`);
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
}

async function errorOf(p: Promise<unknown>): Promise<HavenError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HavenError)) throw new Error(`expected a HavenError, got ${String(err)}`);
  return err;
}

function chunk(data: Buffer): { id: ChunkId; raw: Buffer } {
  return { id: chunkIdOf(data), raw: data };
}

describe('pack store', () => {
  const dirs: string[] = [];
  const open: PackStore[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function setup(opts: Opts = {}): Promise<{ dir: string; key: Buffer; store: PackStore; reopen: (o?: Opts) => Promise<PackStore> }> {
    const dir = await mkdtemp(join(tmpdir(), 'haven-pack-'));
    dirs.push(dir);
    const key = randomBytes(32);
    const create = async (o: Opts = opts): Promise<PackStore> => {
      const s = await createPackStore({ dir, key, ...o });
      open.push(s);
      return s;
    };
    return { dir, key, store: await create(), reopen: create };
  }

  async function packFiles(dir: string): Promise<string[]> {
    return (await readdir(join(dir, 'packs'))).filter((n) => n.endsWith('.pack')).sort();
  }

  async function putAll(store: PackStore, chunks: readonly { id: ChunkId; raw: Buffer }[]): Promise<void> {
    for (const c of chunks) await store.put(c.id, { raw: c.raw });
  }

  it('cuts a torn tail of the open pack at open, keeping every synced chunk', async () => {
    const { dir, store, reopen } = await setup();
    const chunks = Array.from({ length: 5 }, (_, i) => chunk(mixed(50_000 + i)));
    await putAll(store, chunks);
    await store.sync();
    await store.close();
    const [packName] = await packFiles(dir);
    const path = join(dir, 'packs', packName!);
    const syncedSize = (await stat(path)).size;
    // A torn record: the first 100 bytes of a real record header+payload, then noise.
    const head = (await readFile(path)).subarray(16, 116);
    await appendFile(path, Buffer.concat([head, randomBytes(3000)]));

    const reopened = await reopen();
    expect(reopened.recovery.truncatedBytes).toBe(3100);
    expect((await stat(path)).size).toBe(syncedSize);
    for (const c of chunks) expect(Buffer.from(await reopened.get(c.id)).equals(c.raw)).toBe(true);
    const later = chunk(mixed(70_000));
    await reopened.put(later.id, { raw: later.raw });
    await reopened.sync();
    await reopened.close();
    const again = await reopen();
    expect(again.recovery.truncatedBytes).toBe(0);
    for (const c of [...chunks, later]) expect(chunkIdOf(await again.get(c.id))).toBe(c.id);
  });

  it('drops puts that were never synced, without leaving index entries behind', async () => {
    const { dir, store, reopen } = await setup({ packSizeBytes: 64 * 1024 });
    const synced = Array.from({ length: 4 }, () => chunk(randomBytes(10_000)));
    await putAll(store, synced);
    await store.sync();
    // Enough unsynced data to seal the open pack and start new ones: all of it must go.
    const unsynced = Array.from({ length: 20 }, () => chunk(randomBytes(10_000)));
    await putAll(store, unsynced);
    const packsBefore = (await packFiles(dir)).length;
    await store.close();

    const reopened = await reopen();
    expect(reopened.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(reopened.recovery.removedPackFiles.length).toBe(packsBefore - 1);
    expect(reopened.recovery.lostChunks).toEqual([]);
    expect(await reopened.has(synced.map((c) => c.id))).toEqual(synced.map(() => true));
    expect(await reopened.has(unsynced.map((c) => c.id))).toEqual(unsynced.map(() => false));
    for await (const loc of reopened.list()) expect(chunkIdOf(await reopened.get(loc.id))).toBe(loc.id);
    await putAll(reopened, unsynced);
    await reopened.sync();
    for (const c of unsynced) expect(chunkIdOf(await reopened.get(c.id))).toBe(c.id);
  });

  it('seals packs at the size bound and starts new ones', async () => {
    const bound = 64 * 1024;
    const { dir, store, reopen } = await setup({ packSizeBytes: bound });
    const chunks = Array.from({ length: 24 }, () => chunk(randomBytes(15_000)));
    await putAll(store, chunks);
    await store.sync();
    const names = await packFiles(dir);
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const n of names) expect((await stat(join(dir, 'packs', n))).size).toBeLessThanOrEqual(bound);
    expect((await store.stats()).packs).toBe(names.length);
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, 'packs', n))).size));
    await store.close();

    const reopened = await reopen();
    const more = Array.from({ length: 3 }, () => chunk(randomBytes(15_000)));
    await putAll(reopened, more);
    await reopened.sync();
    // Sealed packs are never appended to again.
    for (const [i, n] of names.slice(0, -1).entries()) expect((await stat(join(dir, 'packs', n))).size).toBe(sizes[i]);
    for (const c of [...chunks, ...more]) expect(chunkIdOf(await reopened.get(c.id))).toBe(c.id);
  });

  it('names the chunk, pack and offset when a sealed pack has a flipped byte', async () => {
    const { store } = await setup({ packSizeBytes: 64 * 1024 });
    const chunks = Array.from({ length: 12 }, () => chunk(randomBytes(15_000)));
    await putAll(store, chunks);
    await store.sync();
    const target = chunks[1]!;
    const loc = await locate(store, target.id);
    expect(loc.pack).toBe('0000000000000001.pack');
    await flipByte(store.packPath(loc.pack), loc.offset + 5000);
    const err = await errorOf(store.get(target.id));
    expect(err.code).toBe('CORRUPT');
    expect(err.details).toEqual({ chunkId: target.id, pack: loc.pack, offset: String(loc.offset) });
    expect(err.message).toContain(target.id);
    for (const c of chunks) if (c !== target) expect(chunkIdOf(await store.get(c.id))).toBe(c.id);
  });

  it('rejects a record moved under another id, even with a rewritten header', async () => {
    const { store, reopen } = await setup();
    const a = chunk(randomBytes(4096));
    const b = chunk(randomBytes(4096));
    await putAll(store, [a, b]);
    await store.sync();
    const la = await locate(store, a.id);
    const lb = await locate(store, b.id);
    const path = store.packPath(la.pack);
    await store.close();
    const original = await readFile(path);
    const recordB = Buffer.from(original.subarray(lb.offset, lb.offset + lb.length));

    // B's record copied verbatim to A's location: the header names B.
    const moved = Buffer.from(original);
    recordB.copy(moved, la.offset);
    await writeFile(path, moved);
    let s = await reopen();
    expect((await errorOf(s.get(a.id))).code).toBe('CORRUPT');
    await s.close();

    // Same, with the header's id and checksum rewritten to A: the GCM tag no longer matches.
    const forged = Buffer.from(recordB);
    Buffer.from(a.id, 'hex').copy(forged, 8);
    forged.writeUInt32LE(crc32(forged.subarray(0, 60)), 60);
    forged.copy(moved, la.offset);
    await writeFile(path, moved);
    s = await reopen();
    const err = await errorOf(s.get(a.id));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toMatch(/authentication/);
    expect(chunkIdOf(await s.get(b.id))).toBe(b.id);
  });

  it('reports CORRUPT when opened with the wrong key', async () => {
    const { dir, store } = await setup();
    const a = chunk(mixed(10_000));
    await store.put(a.id, { raw: a.raw });
    await store.sync();
    await store.close();
    const wrong = await createPackStore({ dir, key: randomBytes(32) });
    open.push(wrong);
    expect(await wrong.has([a.id])).toEqual([true]);
    expect((await errorOf(wrong.get(a.id))).code).toBe('CORRUPT');
  });

  it('refuses a second opener of the same directory', async () => {
    const { dir, key } = await setup();
    expect((await errorOf(createPackStore({ dir, key }))).code).toBe('FAILED_PRECONDITION');
  });

  it('removes index entries whose bytes are gone and heals on re-upload', async () => {
    const { dir, store, reopen } = await setup({ packSizeBytes: 64 * 1024 });
    const chunks = Array.from({ length: 12 }, () => chunk(randomBytes(15_000)));
    await putAll(store, chunks);
    await store.sync();
    const locs = await Promise.all(chunks.map((c) => locate(store, c.id)));
    await store.close();
    // A sealed pack loses its tail (disk damage, a bad copy): the last record is cut.
    const inFirst = locs.filter((l) => l.pack === '0000000000000001.pack');
    const victim = inFirst.reduce((a, b) => (b.offset > a.offset ? b : a));
    expect(inFirst.length).toBeGreaterThan(1);
    await truncate(join(dir, 'packs', victim.pack), victim.offset + 10);
    // And an unknown pack file appears.
    await writeFile(join(dir, 'packs', '00000000000000ff.pack'), randomBytes(100));

    const reopened = await reopen();
    expect(reopened.recovery.lostChunks).toEqual([victim.id]);
    expect(reopened.recovery.removedPackFiles).toEqual(['00000000000000ff.pack']);
    expect(await reopened.has([victim.id])).toEqual([false]);
    const lost = chunks.find((c) => c.id === victim.id)!;
    expect((await reopened.put(lost.id, { raw: lost.raw })).stored).toBe(true);
    await reopened.sync();
    for (const c of chunks) expect(chunkIdOf(await reopened.get(c.id))).toBe(c.id);
  });

  it('compaction deletes emptied packs and rewrites sparse ones while reads go on', async () => {
    const { dir, store, reopen } = await setup({ packSizeBytes: 64 * 1024 });
    const chunks = Array.from({ length: 40 }, () => chunk(randomBytes(15_000)));
    await putAll(store, chunks);
    await store.sync();
    const before = await store.stats();
    const live = new Set(chunks.filter((_, i) => i % 5 === 0).map((c) => c.id));
    const gen = await store.beginGcGeneration();
    await store.sweep(gen, (id) => live.has(id));
    const reads = Promise.all([...live].map((id) => store.get(id)));
    const result = await store.compact({ minDeadRatio: 0.5 });
    for (const p of await reads) expect(live.has(chunkIdOf(p))).toBe(true);
    expect(result.packsRewritten).toBeGreaterThan(0);
    expect(result.packsDeleted).toBeGreaterThan(0);
    expect(result.bytesFreed).toBeGreaterThan(0);
    const after = await store.stats();
    expect(after.packBytes).toBeLessThan(before.packBytes / 2);
    expect(after.packBytes - after.storedBytes).toBeLessThan(64 * 1024 * 2);
    expect((await packFiles(dir)).length).toBe(after.packs);
    await store.close();
    const reopened = await reopen();
    expect(reopened.recovery).toEqual({ truncatedBytes: 0, removedPackFiles: [], lostChunks: [] });
    for (const id of live) expect(chunkIdOf(await reopened.get(id))).toBe(id);
    expect((await reopened.stats()).chunks).toBe(live.size);
  });

  it('persists the GC generation across reopen', async () => {
    const { store, reopen } = await setup();
    const g1 = await store.beginGcGeneration();
    await store.close();
    const reopened = await reopen();
    expect(await reopened.beginGcGeneration()).toBe(g1 + 1);
  });

  it('validates its options', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haven-pack-'));
    dirs.push(dir);
    expect((await errorOf(createPackStore({ dir, key: randomBytes(16) }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(createPackStore({ dir, key: randomBytes(32), packSizeBytes: 10 }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(createPackStore({ dir, key: randomBytes(32), compressionLevel: 99 }))).code).toBe('INVALID_ARGUMENT');
  });
});
