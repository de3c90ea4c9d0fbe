import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, lstatSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HavenError, buildContentRoot, chunkIdOf } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { createChunkBatcher } from './chunk-batcher.js';
import { localRestore } from './local-restore.js';
import type { RestoreEntry } from './local-restore.js';

/** An in-memory chunk store: what ReadChunks would serve. */
function createStore() {
  const chunks = new Map<ChunkId, Uint8Array>();
  const calls: Array<readonly ChunkId[]> = [];
  return {
    chunks,
    calls,
    /** Stores `data` cut into pieces of `pieceSize`; returns its content root. */
    put(data: Uint8Array, pieceSize = 1024): ChunkId {
      const refs = [];
      for (let at = 0; at < data.length; at += pieceSize) {
        const piece = data.subarray(at, Math.min(data.length, at + pieceSize));
        const id = chunkIdOf(piece);
        chunks.set(id, piece);
        refs.push({ id, length: piece.length });
      }
      const root = buildContentRoot(refs);
      for (const c of root.listChunks) chunks.set(c.id, c.bytes);
      return root.rootId;
    },
    fetch: async (ids: readonly ChunkId[]): Promise<Uint8Array[]> => {
      calls.push(ids);
      await new Promise((r) => setImmediate(r));
      return ids.map((id) => {
        const c = chunks.get(id);
        if (c === undefined) throw new HavenError('NOT_FOUND', `chunk ${id} not referenced`);
        return c;
      });
    },
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const MTIME = 1_600_000_000_123;
let base: string;
let target: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'haven-local-restore-'));
  target = join(base, 'target');
  outside = join(base, 'outside');
  mkdirSync(outside);
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

function file(path: string, data: Uint8Array, root: ChunkId | undefined, mode = 0o644): RestoreEntry {
  return { path, type: 'file', mode, mtimeMs: MTIME, size: data.length, contentRoot: root };
}

describe('local restore', () => {
  it('writes files, empty files, empty dirs, symlinks, modes and mtimes', async () => {
    const store = createStore();
    const big = bytes(20_000, 1);
    big.fill(0, 4096, 12_288); // whole zero chunks become holes but read back as zeros
    const small = bytes(300, 2);
    const entries: RestoreEntry[] = [
      { path: '', type: 'dir', mode: 0o755, mtimeMs: MTIME, size: 0 },
      { path: 'docs', type: 'dir', mode: 0o750, mtimeMs: MTIME - 5_000, size: 0 },
      file('docs/big.bin', big, store.put(big)),
      file('docs/small.txt', small, store.put(small), 0o600),
      file('docs/empty', new Uint8Array(0), undefined),
      { path: 'empty-dir', type: 'dir', mode: 0o700, mtimeMs: MTIME - 7_000, size: 0 },
      { path: 'links/rel', type: 'symlink', mode: 0o777, mtimeMs: MTIME, size: 0, symlinkTarget: '../docs/small.txt' },
      { path: 'links/abs', type: 'symlink', mode: 0o777, mtimeMs: MTIME, size: 0, symlinkTarget: outside },
      file('x/y/z/deep.sh', small, store.put(small), 0o755),
    ];
    const report = await localRestore({ target, entries, fetch: store.fetch });

    expect(report).toMatchObject({ files: 4, dirs: 3, symlinks: 2, bytes: 20_000 + 300 * 2, skipped: 0, failed: 0, failures: [] });
    expect(report.chunks).toBe(20 + 1 + 1);
    expect(Buffer.from(readFileSync(join(target, 'docs/big.bin'))).equals(Buffer.from(big))).toBe(true);
    expect(readFileSync(join(target, 'docs/small.txt'))).toEqual(Buffer.from(small));
    expect(readFileSync(join(target, 'docs/empty')).length).toBe(0);
    expect(readdirSync(join(target, 'empty-dir'))).toEqual([]);
    expect(readlinkSync(join(target, 'links/rel'))).toBe('../docs/small.txt');
    expect(readlinkSync(join(target, 'links/abs'))).toBe(outside);

    const mode = (p: string): number => lstatSync(join(target, p)).mode & 0o7777;
    expect(mode('docs')).toBe(0o750);
    expect(mode('docs/small.txt')).toBe(0o600);
    expect(mode('docs/big.bin')).toBe(0o644);
    expect(mode('empty-dir')).toBe(0o700);
    expect(mode('x/y/z/deep.sh')).toBe(0o755);
    const mtime = (p: string): number => lstatSync(join(target, p)).mtimeMs;
    expect(mtime('docs/big.bin')).toBeCloseTo(MTIME, 0);
    expect(mtime('docs')).toBeCloseTo(MTIME - 5_000, 0);
    expect(mtime('empty-dir')).toBeCloseTo(MTIME - 7_000, 0);
    expect(mtime('links/rel')).toBeCloseTo(MTIME, 0);
    expect(mtime('')).toBeCloseTo(MTIME, 0);
    // No temp files are left behind.
    expect(readdirSync(join(target, 'docs')).sort()).toEqual(['big.bin', 'empty', 'small.txt']);
  });

  it('walks multi-level content roots and batches chunk requests', async () => {
    const store = createStore();
    // 4,000 chunks of 16 bytes: the chunk list needs more than one level of list chunks.
    const data = bytes(64_000, 3);
    const root = store.put(data, 16);
    const report = await localRestore({ target, entries: [file('many', data, root)], fetch: store.fetch, maxInFlight: 2 });
    expect(report.chunks).toBe(4_000);
    expect(readFileSync(join(target, 'many'))).toEqual(Buffer.from(data));
    expect(store.calls.length).toBeLessThan(1_000);
    expect(Math.max(...store.calls.map((c) => c.length))).toBeGreaterThan(1);
  });

  it('refuses paths that leave the target, including through symlinks, and restores the rest', async () => {
    const store = createStore();
    const data = bytes(100, 4);
    const root = store.put(data);
    symlinkSync(outside, join(base, 'pre-existing-link'));
    mkdirSync(target);
    symlinkSync(outside, join(target, 'planted'));
    const entries: RestoreEntry[] = [
      file('../escape', data, root),
      file('/abs/file', data, root),
      file('a/../../escape2', data, root),
      { path: 'out', type: 'symlink', mode: 0o777, size: 0, symlinkTarget: outside },
      file('out/evil', data, root),
      file('planted/evil2', data, root),
      { path: 'planted/sub', type: 'dir', mode: 0o755, size: 0 },
      file('fine/ok', data, root),
    ];
    const report = await localRestore({ target, entries, fetch: store.fetch, concurrency: 1 });

    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(base).sort()).toEqual(['outside', 'pre-existing-link', 'target']);
    expect(report.files).toBe(1);
    expect(report.symlinks).toBe(1);
    expect(readFileSync(join(target, 'fine/ok'))).toEqual(Buffer.from(data));
    const byPath = Object.fromEntries(report.failures.map((f) => [f.path, f.code]));
    expect(byPath).toEqual({
      '../escape': 'INVALID_ARGUMENT',
      '/abs/file': 'INVALID_ARGUMENT',
      'a/../../escape2': 'INVALID_ARGUMENT',
      'out/evil': 'FAILED_PRECONDITION',
      'planted/evil2': 'FAILED_PRECONDITION',
      'planted/sub': 'FAILED_PRECONDITION',
    });
    expect(report.failed).toBe(6);
  });

  it('reports a damaged chunk for its file only and leaves no partial file', async () => {
    const store = createStore();
    const good = bytes(3000, 5);
    const bad = bytes(3000, 6);
    const goodRoot = store.put(good);
    const badRoot = store.put(bad);
    // Flip a byte of the second data chunk of `bad` as stored.
    const victim = chunkIdOf(bad.subarray(1024, 2048));
    const damaged = Uint8Array.from(store.chunks.get(victim)!);
    damaged[7] = damaged[7]! ^ 0xff;
    store.chunks.set(victim, damaged);

    const report = await localRestore({ target, entries: [file('bad', bad, badRoot), file('good', good, goodRoot)], fetch: store.fetch });
    expect(report.files).toBe(1);
    expect(report.failures).toEqual([expect.objectContaining({ path: 'bad', code: 'CORRUPT' })]);
    expect(readdirSync(target)).toEqual(['good']);
  });

  it('keeps existing entries with overwrite never and replaces them by default', async () => {
    const store = createStore();
    const data = bytes(50, 7);
    const root = store.put(data);
    mkdirSync(target);
    writeFileSync(join(target, 'f'), 'old');
    const kept = await localRestore({ target, entries: [file('f', data, root)], fetch: store.fetch, overwrite: 'never' });
    expect(kept).toMatchObject({ files: 0, skipped: 1 });
    expect(readFileSync(join(target, 'f'), 'utf8')).toBe('old');
    const replaced = await localRestore({ target, entries: [file('f', data, root)], fetch: store.fetch });
    expect(replaced).toMatchObject({ files: 1, skipped: 0 });
    expect(readFileSync(join(target, 'f'))).toEqual(Buffer.from(data));
  });

  it('stops on a connection failure with its code and cleans up temp files', async () => {
    const store = createStore();
    const data = bytes(5000, 8);
    const root = store.put(data);
    const fetch = async (): Promise<Uint8Array[]> => {
      throw new HavenError('UNAVAILABLE', 'controller went away');
    };
    await expect(localRestore({ target, entries: [file('a', data, root), file('b', data, root)], fetch })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(readdirSync(target)).toEqual([]);
  });
});

describe('chunk batcher', () => {
  it('isolates the chunk that fails a batch', async () => {
    const store = createStore();
    const a = bytes(10, 9);
    const b = bytes(10, 10);
    store.chunks.set(chunkIdOf(a), a);
    const batcher = createChunkBatcher(store.fetch);
    const results = await Promise.allSettled([batcher.get(chunkIdOf(a), 10), batcher.get(chunkIdOf(b), 10)]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: a });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'NOT_FOUND' } });
    expect(store.calls[0]).toHaveLength(2);
  });

  it('keeps at most maxInFlight requests open', async () => {
    let open = 0;
    let peak = 0;
    const fetch = async (ids: readonly ChunkId[]): Promise<Uint8Array[]> => {
      open++;
      peak = Math.max(peak, open);
      await new Promise((r) => setTimeout(r, 5));
      open--;
      return ids.map(() => new Uint8Array(1));
    };
    const batcher = createChunkBatcher(fetch, { maxIds: 2, maxInFlight: 3 });
    const ids = Array.from({ length: 40 }, (_, i) => chunkIdOf(Uint8Array.of(i)));
    await Promise.all(ids.map((id) => batcher.get(id, 1)));
    expect(peak).toBe(3);
  });
});
