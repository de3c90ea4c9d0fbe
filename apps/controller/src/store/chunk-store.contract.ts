import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HavenError, chunkIdOf } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { compress, decompress } from 'zstd-napi';
import type { ChunkStore } from './chunk-store.js';

export interface ChunkStoreFixture {
  readonly store: ChunkStore;
  /** A new store over the same storage; the suite closes the previous one first. */
  readonly reopen?: () => Promise<ChunkStore>;
  /** Damages the stored form of a synced chunk, so that get() must notice. */
  readonly corrupt?: (id: ChunkId) => Promise<void>;
  /** Closes the latest store and removes its storage. */
  readonly cleanup: () => Promise<void>;
}

const MiB = 1024 * 1024;

export function compressible(size: number, seed = 0): Buffer {
  const line = Buffer.from(`haven ${seed} log line: the quick brown fox jumps over the lazy dog\n`);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += line.length) line.copy(out, i);
  return out;
}

/** Half random, half repetitive, like typical file data. */
export function mixed(size: number): Buffer {
  const out = compressible(size, size);
  for (let i = 0; i < size; i += 8192) randomBytes(Math.min(4096, size - i)).copy(out, i);
  return out;
}

function chunk(data: Buffer): { id: ChunkId; raw: Buffer } {
  return { id: chunkIdOf(data), raw: data };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HavenError) return err.code;
    throw err;
  }
  return 'OK';
}

/** The ChunkStore contract (see the interface's documentation); every implementation runs it. */
export function describeChunkStoreContract(name: string, factory: () => Promise<ChunkStoreFixture>): void {
  describe(`ChunkStore contract: ${name}`, () => {
    let fx: ChunkStoreFixture;
    let store: ChunkStore;

    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    async function reopen(): Promise<boolean> {
      if (!fx.reopen) return false;
      await store.close();
      store = await fx.reopen();
      return true;
    }

    it('puts, gets and answers has()', async () => {
      const a = chunk(mixed(100_000));
      const b = chunk(randomBytes(1000));
      expect(await store.put(a.id, { raw: a.raw })).toMatchObject({ stored: true });
      expect(Buffer.from(await store.get(a.id)).equals(a.raw)).toBe(true);
      expect(await store.has([a.id, b.id, a.id])).toEqual([true, false, true]);
      expect(await store.has([])).toEqual([]);
    });

    it('is idempotent: a second put of an id stores nothing', async () => {
      const a = chunk(mixed(50_000));
      const first = await store.put(a.id, { raw: a.raw });
      expect(first.stored).toBe(true);
      expect(first.storedBytes).toBeGreaterThan(0);
      expect(await store.put(a.id, { raw: a.raw })).toEqual({ stored: false, storedBytes: 0 });
      await store.sync();
      expect(await store.put(a.id, { raw: a.raw })).toEqual({ stored: false, storedBytes: 0 });
      const stats = await store.stats();
      expect(stats.chunks).toBe(1);
      expect(stats.storedBytes).toBe(first.storedBytes);
      expect(stats.logicalBytes).toBe(a.raw.length);
    });

    it('stores one copy when the same id is put concurrently', async () => {
      const a = chunk(mixed(200_000));
      const results = await Promise.all(Array.from({ length: 10 }, () => store.put(a.id, { raw: a.raw })));
      expect(results.filter((r) => r.stored)).toHaveLength(1);
      // Read-after-write for every caller, including those that found it in flight.
      expect(Buffer.from(await store.get(a.id)).equals(a.raw)).toBe(true);
      await store.sync();
      expect((await store.stats()).chunks).toBe(1);
    });

    it('reads its writes before and after sync', async () => {
      const chunks = Array.from({ length: 20 }, (_, i) => chunk(i % 2 ? mixed(30_000 + i) : randomBytes(20_000 + i)));
      await Promise.all(chunks.map((c) => store.put(c.id, { raw: c.raw })));
      for (const c of chunks) expect(Buffer.from(await store.get(c.id)).equals(c.raw)).toBe(true);
      await store.sync();
      for (const c of chunks) expect(Buffer.from(await store.get(c.id)).equals(c.raw)).toBe(true);
      expect(await store.has(chunks.map((c) => c.id))).toEqual(chunks.map(() => true));
    });

    it('keeps synced chunks across reopen; unsynced ones vanish or stay whole', async () => {
      const synced = Array.from({ length: 10 }, (_, i) => chunk(mixed(40_000 + i)));
      for (const c of synced) await store.put(c.id, { raw: c.raw });
      await store.sync();
      const unsynced = chunk(mixed(60_000));
      await store.put(unsynced.id, { raw: unsynced.raw });
      if (!(await reopen())) return;
      for (const c of synced) expect(Buffer.from(await store.get(c.id)).equals(c.raw)).toBe(true);
      const [present] = await store.has([unsynced.id]);
      if (present) expect(Buffer.from(await store.get(unsynced.id)).equals(unsynced.raw)).toBe(true);
      else expect(await codeOf(store.get(unsynced.id))).toBe('NOT_FOUND');
      // The store keeps working after reopen.
      const later = chunk(mixed(10_000));
      await store.put(later.id, { raw: later.raw });
      await store.sync();
      expect(Buffer.from(await store.get(later.id)).equals(later.raw)).toBe(true);
    });

    it('stores a 4 MiB incompressible chunk and an empty chunk', async () => {
      const big = chunk(randomBytes(4 * MiB));
      const empty = chunk(Buffer.alloc(0));
      const r = await store.put(big.id, { raw: big.raw });
      // Incompressible data is stored as is, plus a small constant overhead.
      expect(r.storedBytes).toBeGreaterThanOrEqual(big.raw.length);
      expect(r.storedBytes).toBeLessThan(big.raw.length + 1024);
      await store.put(empty.id, { raw: empty.raw });
      await store.sync();
      expect(Buffer.from(await store.get(big.id)).equals(big.raw)).toBe(true);
      expect((await store.get(empty.id)).length).toBe(0);
      if (await reopen()) {
        expect(Buffer.from(await store.get(big.id)).equals(big.raw)).toBe(true);
        expect((await store.get(empty.id)).length).toBe(0);
      }
    });

    it('compresses compressible data, and accepts an already compressed form', async () => {
      const text = chunk(compressible(MiB, 1));
      const r = await store.put(text.id, { raw: text.raw });
      expect(r.storedBytes).toBeLessThan(text.raw.length / 4);
      const pre = chunk(compressible(MiB, 2));
      const zstd = compress(pre.raw, { compressionLevel: 3 });
      const r2 = await store.put(pre.id, { raw: pre.raw, zstd });
      expect(r2.storedBytes).toBeLessThan(zstd.length + 1024);
      await store.sync();
      expect(Buffer.from(await store.get(text.id)).equals(text.raw)).toBe(true);
      expect(Buffer.from(await store.get(pre.id)).equals(pre.raw)).toBe(true);
      const stats = await store.stats();
      expect(stats.logicalBytes).toBe(2 * MiB);
      expect(stats.storedBytes).toBeLessThan(MiB / 2);
    });

    it('gives the stored form: a zstd frame of the plaintext, or the plaintext itself', async () => {
      const text = chunk(compressible(MiB, 3));
      const noise = chunk(randomBytes(200_000));
      const empty = chunk(Buffer.alloc(0));
      for (const c of [text, noise, empty]) await store.put(c.id, { raw: c.raw });
      for (const synced of [false, true]) {
        const [t, n, e] = await Promise.all([text, noise, empty].map((c) => store.getStored(c.id)));
        expect(t!.zstd, `synced: ${synced}`).toBe(true);
        expect(t!.data.length).toBeLessThan(text.raw.length / 4);
        expect(Buffer.from(decompress(Buffer.from(t!.data))).equals(text.raw)).toBe(true);
        expect([t!.rawLength, n!.rawLength, e!.rawLength]).toEqual([text.raw.length, noise.raw.length, 0]);
        expect(n!.zstd).toBe(false);
        expect(Buffer.from(n!.data).equals(noise.raw)).toBe(true);
        expect(e!.data.length).toBe(0);
        await store.sync();
      }
      expect(await codeOf(store.getStored(chunkIdOf(Buffer.from('never stored'))))).toBe('NOT_FOUND');
      expect(await codeOf(store.getStored('xyz'))).toBe('INVALID_ARGUMENT');
    });

    it('is done with the bytes of a put when put() returns', async () => {
      const text = chunk(compressible(300_000, 4));
      const noise = chunk(randomBytes(300_000));
      const pre = chunk(compressible(300_000, 5));
      const zstd = compress(pre.raw, { compressionLevel: 3 });
      const buffers = [Buffer.from(text.raw), Buffer.from(noise.raw), Buffer.from(pre.raw), Buffer.from(zstd)] as const;
      const puts = [
        store.put(text.id, { raw: buffers[0] }),
        store.put(noise.id, { raw: buffers[1], incompressible: true }),
        store.put(pre.id, { raw: buffers[2], zstd: buffers[3] }),
      ];
      for (const b of buffers) b.fill(0x5a);
      await Promise.all(puts);
      await store.sync();
      for (const c of [text, noise, pre]) expect(Buffer.from(await store.get(c.id)).equals(c.raw)).toBe(true);
    });

    it('reads back exactly a chunk put with the incompressible hint, right or wrong', async () => {
      const noise = chunk(randomBytes(200_000));
      const text = chunk(compressible(200_000, 3));
      const r = await store.put(noise.id, { raw: noise.raw, incompressible: true });
      expect(r.storedBytes).toBeGreaterThanOrEqual(noise.raw.length);
      await store.put(text.id, { raw: text.raw, incompressible: true });
      await store.sync();
      expect(Buffer.from(await store.get(noise.id)).equals(noise.raw)).toBe(true);
      expect(Buffer.from(await store.get(text.id)).equals(text.raw)).toBe(true);
      if (await reopen()) expect(Buffer.from(await store.get(text.id)).equals(text.raw)).toBe(true);
      expect(await codeOf(store.put(chunkIdOf(Buffer.from('hint')), { raw: Buffer.from('hint'), incompressible: 'yes' as unknown as boolean }))).toBe('INVALID_ARGUMENT');
    });

    it('answers NOT_FOUND for absent chunks and INVALID_ARGUMENT for bad input', async () => {
      const absent = chunkIdOf(Buffer.from('never stored'));
      expect(await codeOf(store.get(absent))).toBe('NOT_FOUND');
      expect(await codeOf(store.get('xyz'))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(store.get(absent.toUpperCase()))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(store.has(['nope']))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(store.put('nope', { raw: Buffer.alloc(1) }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(store.put(absent, { raw: 'text' as unknown as Uint8Array }))).toBe('INVALID_ARGUMENT');
    });

    it('detects a damaged chunk on read', async () => {
      if (!fx.corrupt) return;
      const a = chunk(mixed(100_000));
      const b = chunk(randomBytes(100_000));
      await store.put(a.id, { raw: a.raw });
      await store.put(b.id, { raw: b.raw });
      await store.sync();
      await fx.corrupt(a.id);
      const err = await store.get(a.id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HavenError);
      expect((err as HavenError).code).toBe('CORRUPT');
      expect((err as HavenError).details.chunkId).toBe(a.id);
      // The stored form is authenticated too.
      expect(await codeOf(store.getStored(a.id))).toBe('CORRUPT');
      expect(Buffer.from(await store.get(b.id)).equals(b.raw)).toBe(true);
    });

    it('lists every synced chunk once', async () => {
      const chunks = Array.from({ length: 30 }, (_, i) => chunk(mixed(5_000 + i)));
      for (const c of chunks) await store.put(c.id, { raw: c.raw });
      await store.sync();
      const seen = new Map<string, number>();
      for await (const loc of store.list()) {
        seen.set(loc.id, loc.rawLength);
        expect(loc.length).toBeGreaterThan(0);
      }
      expect(seen.size).toBe(chunks.length);
      for (const c of chunks) expect(seen.get(c.id)).toBe(c.raw.length);
    });

    it('sweeps dead chunks and keeps live and freshly touched ones', async () => {
      const [live, dedupedAfterMark, putAgainAfterMark, dead] = Array.from({ length: 4 }, (_, i) => chunk(mixed(20_000 + i)));
      for (const c of [live, dedupedAfterMark, putAgainAfterMark, dead]) await store.put(c!.id, { raw: c!.raw });
      await store.sync();
      const gen = await store.beginGcGeneration();
      expect(await store.beginGcGeneration()).toBeGreaterThan(gen);
      // Ingest continues while the mark runs: a has() hit, a deduplicated put, a new chunk.
      expect(await store.has([dedupedAfterMark!.id])).toEqual([true]);
      expect((await store.put(putAgainAfterMark!.id, { raw: putAgainAfterMark!.raw })).stored).toBe(false);
      const fresh = chunk(mixed(25_000));
      await store.put(fresh.id, { raw: fresh.raw });
      const result = await store.sweep(gen, (id) => id === live!.id);
      expect(result.deletedChunks).toBe(1);
      expect(result.deletedBytes).toBeGreaterThan(0);
      expect(await store.has([live!.id, dedupedAfterMark!.id, putAgainAfterMark!.id, fresh.id, dead!.id])).toEqual([
        true,
        true,
        true,
        true,
        false,
      ]);
      expect(await codeOf(store.get(dead!.id))).toBe('NOT_FOUND');
      // A later upload of the swept chunk stores it again.
      expect((await store.put(dead!.id, { raw: dead!.raw })).stored).toBe(true);
      await store.sync();
      expect(Buffer.from(await store.get(dead!.id)).equals(dead!.raw)).toBe(true);
      expect(await codeOf(store.sweep(gen + 100, () => true))).toBe('INVALID_ARGUMENT');
    });

    it('keeps unreferenced chunks of generations still current at keepTouchedSinceMs', async () => {
      const [early, recent] = [chunk(mixed(21_000)), chunk(mixed(22_000))];
      await store.put(early.id, { raw: early.raw });
      await store.sync();
      const g1 = await store.beginGcGeneration();
      await store.put(recent.id, { raw: recent.raw });
      await store.sync();
      const g2 = await store.beginGcGeneration();
      // Every generation began after "the beginning of time": everything unreferenced is kept.
      expect(await store.sweep(g2, () => false, { keepTouchedSinceMs: -1 })).toMatchObject({ deletedChunks: 0 });
      expect(await store.has([early.id, recent.id])).toEqual([true, true]);
      // No generation began after a time still to come: nothing is kept by the grace.
      const g3 = await store.beginGcGeneration();
      expect(g3).toBeGreaterThan(g1);
      expect(await store.sweep(g3, () => false, { keepTouchedSinceMs: Number.MAX_SAFE_INTEGER })).toMatchObject({ deletedChunks: 2 });
      expect(await codeOf(store.get(early.id))).toBe('NOT_FOUND');
      expect(await codeOf(store.get(recent.id))).toBe('NOT_FOUND');
      expect(await codeOf(store.sweep(g3, () => false, { keepTouchedSinceMs: Number.NaN }))).toBe('INVALID_ARGUMENT');
    });

    it('compaction keeps every live chunk readable', async () => {
      const chunks = Array.from({ length: 60 }, (_, i) => chunk(i % 3 ? randomBytes(30_000) : mixed(30_000)));
      for (const c of chunks) await store.put(c.id, { raw: c.raw });
      await store.sync();
      const live = new Set(chunks.filter((_, i) => i % 4 === 0).map((c) => c.id));
      const gen = await store.beginGcGeneration();
      const swept = await store.sweep(gen, (id) => live.has(id));
      expect(swept.deletedChunks).toBe(chunks.length - live.size);
      const result = await store.compact({ minDeadRatio: 0.1 });
      expect(result.packsRewritten).toBeGreaterThanOrEqual(0);
      expect(result.bytesFreed).toBeGreaterThanOrEqual(0);
      for (const c of chunks) {
        if (live.has(c.id)) expect(Buffer.from(await store.get(c.id)).equals(c.raw)).toBe(true);
        else expect(await codeOf(store.get(c.id))).toBe('NOT_FOUND');
      }
      expect((await store.stats()).chunks).toBe(live.size);
      if (await reopen()) {
        for (const id of live) expect(chunkIdOf(await store.get(id))).toBe(id);
        expect((await store.stats()).chunks).toBe(live.size);
      }
    });

    it('refuses calls after close', async () => {
      const a = chunk(mixed(1000));
      await store.put(a.id, { raw: a.raw });
      await store.sync();
      await store.close();
      expect(await codeOf(store.get(a.id))).toBe('FAILED_PRECONDITION');
      expect(await codeOf(store.put(a.id, { raw: a.raw }))).toBe('FAILED_PRECONDITION');
      await store.close();
    });
  });
}
