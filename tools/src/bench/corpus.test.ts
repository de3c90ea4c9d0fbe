import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HavenError, chunkIdOf, createFastCdc } from '@haven/core';
import { Compressor } from 'zstd-napi';
import { createCorpus, writeCorpus } from './corpus.js';
import type { Corpus, CorpusOptions } from './corpus.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small enough for a unit test; chunker params scaled down with it. */
const SMALL: CorpusOptions = {
  seed: 'test',
  files: 40,
  totalBytes: 8 * MiB,
  minFileBytes: 16 * KiB,
  maxFileBytes: 1 * MiB,
  duplicateFraction: 0.3,
  sharedBlockBytes: 256 * KiB,
  segmentBytes: 16 * KiB,
};
const CDC = { min: 4 * KiB, avg: 16 * KiB, max: 64 * KiB };

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const fingerprint = (c: Corpus): string[] => c.files.map((f) => `${f.path}:${f.size}:${sha(c.fileBytes(f.index))}`);

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('createCorpus', () => {
  it('is deterministic: same options, same tree and bytes; another seed, other bytes', () => {
    const a = fingerprint(createCorpus(SMALL));
    expect(fingerprint(createCorpus(SMALL))).toEqual(a);
    const b = fingerprint(createCorpus({ ...SMALL, seed: 'other' }));
    expect(b).not.toEqual(a);
    expect(new Set(a.map((x) => x.split(':')[2])).size).toBeGreaterThan(1);
  });

  it('hits the requested total and duplicate fraction, and whole-file copies are byte-identical', () => {
    const c = createCorpus(SMALL);
    expect(c.files).toHaveLength(40);
    expect(Math.abs(c.totalBytes - 8 * MiB) / (8 * MiB)).toBeLessThan(0.1);
    expect(c.duplicateBytes / c.totalBytes).toBeGreaterThan(0.2);
    expect(c.duplicateBytes / c.totalBytes).toBeLessThan(0.4);
    expect(c.wholeFileDuplicateBytes).toBeGreaterThan(0);
    expect(c.sharedBlockDuplicateBytes).toBeGreaterThan(0);
    const copies = c.files.filter((f) => f.copyOf !== undefined);
    expect(copies.length).toBeGreaterThan(0);
    for (const f of copies) expect(sha(c.fileBytes(f.index))).toBe(sha(c.fileBytes(f.copyOf!)));
    expect(new Set(c.files.map((f) => f.path)).size).toBe(40);
    for (const f of c.files) expect(c.fileBytes(f.index)).toHaveLength(f.size);
  });

  it('dedups at the chunk level roughly as planned', () => {
    const c = createCorpus(SMALL);
    const seen = new Set<string>();
    let unique = 0;
    for (const f of c.files) {
      const cdc = createFastCdc(CDC);
      for (const chunk of [...cdc.push(c.fileBytes(f.index)), ...cdc.finish()]) {
        const id = chunkIdOf(chunk);
        if (!seen.has(id)) unique += chunk.length;
        seen.add(id);
      }
    }
    const saved = 1 - unique / c.totalBytes;
    expect(saved).toBeGreaterThan((c.duplicateBytes / c.totalBytes) * 0.6);
    expect(saved).toBeLessThan((c.duplicateBytes / c.totalBytes) * 1.1);
  });

  it('mixes compressible and random content as asked', () => {
    const ratio = (compressibleFraction: number): number => {
      const c = createCorpus({ ...SMALL, duplicateFraction: 0, compressibleFraction });
      const z = new Compressor();
      z.setParameters({ compressionLevel: 1 });
      let raw = 0;
      let packed = 0;
      for (const f of c.files) {
        const b = c.fileBytes(f.index);
        raw += b.length;
        packed += Math.min(b.length, z.compress(b).length);
      }
      return raw / packed;
    };
    expect(ratio(0)).toBeLessThan(1.01);
    expect(ratio(1)).toBeGreaterThan(2);
    const half = ratio(0.5);
    expect(half).toBeGreaterThan(1.2);
    expect(half).toBeLessThan(2);
    const c = createCorpus({ ...SMALL, compressibleFraction: 0.5 });
    expect(c.textBytes / c.totalBytes).toBeGreaterThan(0.3);
    expect(c.textBytes / c.totalBytes).toBeLessThan(0.7);
  });

  it('streams a file in pieces that add up to its bytes', () => {
    const c = createCorpus(SMALL);
    const f = c.files.reduce((a, b) => (b.size > a.size ? b : a));
    const pieces = [...c.pieces(f.index, 100 * KiB)];
    expect(pieces.slice(0, -1).every((p) => p.length === 100 * KiB)).toBe(true);
    expect(sha(Buffer.concat(pieces))).toBe(sha(c.fileBytes(f.index)));
  });

  it('writes the tree to disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haven-corpus-'));
    dirs.push(dir);
    const c = createCorpus({ ...SMALL, files: 300, totalBytes: 600 * KiB, minFileBytes: 1, maxFileBytes: 8 * KiB });
    await writeCorpus(c, dir);
    expect(c.files.some((f) => f.path.includes('/'))).toBe(true);
    for (const f of c.files) expect(sha(readFileSync(join(dir, ...f.path.split('/'))))).toBe(sha(c.fileBytes(f.index)));
  });

  it('refuses bad options with INVALID_ARGUMENT', () => {
    for (const bad of [{ files: 0 }, { duplicateFraction: 0.95 }, { compressibleFraction: -1 }, { minFileBytes: 10, maxFileBytes: 5 }, { sharedBlockBytes: 10 }]) {
      const err = (() => {
        try {
          createCorpus({ ...SMALL, ...bad });
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(HavenError);
      expect((err as HavenError).code).toBe('INVALID_ARGUMENT');
    }
  });
});
