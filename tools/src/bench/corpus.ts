import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument } from '@haven/core';
import { createRng, fillRandom, fillText } from './corpus-bytes.js';
import type { Rng } from './corpus-bytes.js';

/**
 * A deterministic generated file tree for benchmarks and tests: the same options give the
 * same paths and bytes everywhere. Content mixes text-like (compressible) and random
 * (incompressible) segments, and a chosen fraction of the bytes repeats content seen earlier,
 * both as whole-file copies and as shared blocks placed inside otherwise unique files.
 */
export interface CorpusOptions {
  readonly seed: string | number;
  readonly files: number;
  /** File sizes are drawn log-uniformly in [minFileBytes, maxFileBytes] ... */
  readonly minFileBytes?: number;
  readonly maxFileBytes?: number;
  /** ... then, when given, scaled together so that they add up to about this. */
  readonly totalBytes?: number;
  /** Fraction (0..0.9) of all bytes that repeat earlier content. Default 0. */
  readonly duplicateFraction?: number;
  /** Share (0..1) of the duplicate bytes made of whole-file copies; the rest are shared blocks. Default 0.5. */
  readonly wholeFileShare?: number;
  /**
   * Size of a shared block. A block dedups only in the chunks that fall wholly inside it, so it
   * should be several times the chunker's average (default 4 MiB for the 1 MiB default).
   */
  readonly sharedBlockBytes?: number;
  /** Fraction (0..1) of unique content that is text-like rather than random. Default 0.5. */
  readonly compressibleFraction?: number;
  /** Mean length of a unique text or random run: the grain of the mix. Default 256 KiB. */
  readonly segmentBytes?: number;
}

export type CorpusSegment =
  | { readonly kind: 'text' | 'random'; readonly key: string; readonly length: number }
  | { readonly kind: 'shared'; readonly block: number; readonly length: number };

export interface CorpusFile {
  readonly index: number;
  /** Relative, '/'-separated. */
  readonly path: string;
  readonly size: number;
  /** Whole-file copies: the index of the file with the same content. */
  readonly copyOf?: number;
  /** The content, in order (copies repeat their source's segments). */
  readonly segments: readonly CorpusSegment[];
}

export interface Corpus {
  readonly options: Readonly<Required<CorpusOptions>>;
  readonly files: readonly CorpusFile[];
  readonly totalBytes: number;
  /** Bytes that repeat content appearing earlier in the corpus: whole-file copies plus repeated shared blocks. */
  readonly duplicateBytes: number;
  readonly wholeFileDuplicateBytes: number;
  readonly sharedBlockDuplicateBytes: number;
  /** Bytes of text-like segments (copies and shared blocks included). */
  readonly textBytes: number;
  /** The content of file `index`, freshly allocated. */
  fileBytes(index: number): Buffer;
  /** The content of file `index` in pieces of `pieceBytes` (the last may be shorter), never reused. */
  pieces(index: number, pieceBytes?: number): Generator<Buffer>;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const MIN_SEGMENT = 4 * KiB;

function resolveOptions(o: CorpusOptions): Required<CorpusOptions> {
  const r: Required<CorpusOptions> = {
    seed: o.seed,
    files: o.files,
    minFileBytes: o.minFileBytes ?? 64 * KiB,
    maxFileBytes: o.maxFileBytes ?? 16 * MiB,
    totalBytes: o.totalBytes ?? 0,
    duplicateFraction: o.duplicateFraction ?? 0,
    wholeFileShare: o.wholeFileShare ?? 0.5,
    sharedBlockBytes: o.sharedBlockBytes ?? 4 * MiB,
    compressibleFraction: o.compressibleFraction ?? 0.5,
    segmentBytes: o.segmentBytes ?? 256 * KiB,
  };
  const bad = (what: string): Error => invalidArgument(`corpus ${what}`);
  if (!Number.isInteger(r.files) || r.files < 1) throw bad(`files must be a positive integer, got ${r.files}`);
  if (!Number.isInteger(r.minFileBytes) || r.minFileBytes < 0) throw bad('minFileBytes must be an integer >= 0');
  if (!Number.isInteger(r.maxFileBytes) || r.maxFileBytes < Math.max(1, r.minFileBytes)) throw bad('maxFileBytes must be an integer >= max(1, minFileBytes)');
  if (!Number.isInteger(r.totalBytes) || r.totalBytes < 0) throw bad('totalBytes must be an integer >= 0');
  if (!(r.duplicateFraction >= 0 && r.duplicateFraction <= 0.9)) throw bad('duplicateFraction must be in [0, 0.9]');
  if (!(r.wholeFileShare >= 0 && r.wholeFileShare <= 1)) throw bad('wholeFileShare must be in [0, 1]');
  if (!(r.compressibleFraction >= 0 && r.compressibleFraction <= 1)) throw bad('compressibleFraction must be in [0, 1]');
  if (!Number.isInteger(r.sharedBlockBytes) || r.sharedBlockBytes < MIN_SEGMENT) throw bad(`sharedBlockBytes must be an integer >= ${MIN_SEGMENT}`);
  if (!Number.isInteger(r.segmentBytes) || r.segmentBytes < MIN_SEGMENT) throw bad(`segmentBytes must be an integer >= ${MIN_SEGMENT}`);
  return r;
}

/** Unique text/random runs covering `length` bytes; run lengths are exponential around `mean`. */
function uniqueRuns(rng: Rng, keyPrefix: string, length: number, mean: number, compressible: number): CorpusSegment[] {
  const out: CorpusSegment[] = [];
  for (let o = 0, n = 0; o < length; n++) {
    let len = Math.max(MIN_SEGMENT, Math.round(-Math.log(1 - rng.next()) * mean));
    if (length - o - len < MIN_SEGMENT) len = length - o;
    out.push({ kind: rng.next() < compressible ? 'text' : 'random', key: `${keyPrefix}/u${n}`, length: len });
    o += len;
  }
  return out;
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A spread-out tree: about 16 files per directory, 16 directories per level. */
function pathOf(index: number, files: number): string {
  const name = `file-${String(index).padStart(6, '0')}.dat`;
  const dirs: string[] = [];
  for (let d = Math.floor(index / 16), span = Math.ceil(files / 16); span > 1; span = Math.ceil(span / 16), d = Math.floor(d / 16)) {
    dirs.unshift(`d${String(d % 16).padStart(2, '0')}`);
  }
  return [...dirs, name].join('/');
}

/** Plans a corpus (cheap: no bytes are generated until asked for). */
export function createCorpus(options: CorpusOptions): Corpus {
  const o = resolveOptions(options);
  const seed = String(o.seed);
  const rng = createRng(`corpus/${seed}`);

  // 1. Sizes: log-uniform, then scaled to the total.
  const lo = Math.log(Math.max(1, o.minFileBytes));
  const hi = Math.log(o.maxFileBytes);
  let sizes = Array.from({ length: o.files }, () => Math.round(Math.exp(lo + rng.next() * (hi - lo))));
  if (o.totalBytes > 0) {
    const scale = o.totalBytes / sizes.reduce((a, b) => a + b, 0);
    sizes = sizes.map((s) => Math.round(s * scale));
  }
  const total0 = sizes.reduce((a, b) => a + b, 0);

  // 2. Whole-file copies, each of an original of about its drawn size, until their budget is spent.
  const copyOf: (number | undefined)[] = new Array<number | undefined>(o.files).fill(undefined);
  const isSource = new Set<number>();
  let wholeBudget = total0 * o.duplicateFraction * o.wholeFileShare;
  let wholeFileDuplicateBytes = 0;
  for (const i of shuffle(rng, Array.from({ length: o.files }, (_, i) => i))) {
    if (wholeBudget <= 0) break;
    if (isSource.has(i)) continue;
    let best: number | undefined;
    for (let k = 0; k < 6; k++) {
      const j = rng.int(0, o.files);
      if (j === i || copyOf[j] !== undefined) continue;
      if (best === undefined || Math.abs(sizes[j]! - sizes[i]!) < Math.abs(sizes[best]! - sizes[i]!)) best = j;
    }
    if (best === undefined || sizes[best]! > wholeBudget * 1.5) continue;
    copyOf[i] = best;
    isSource.add(best);
    sizes[i] = sizes[best]!;
    wholeBudget -= sizes[best]!;
  }
  // A copy takes its source's size, not the one drawn for it: scale back to the total.
  if (o.totalBytes > 0) {
    const scale = o.totalBytes / sizes.reduce((a, b) => a + b, 0);
    sizes = sizes.map((s) => Math.round(s * scale));
  }
  copyOf.forEach((src, i) => {
    if (src === undefined) return;
    sizes[i] = sizes[src]!;
    wholeFileDuplicateBytes += sizes[src]!;
  });

  // 3. Shared blocks: slots of sharedBlockBytes inside original files, each block placed in
  // about three slots (its first occurrence is unique content, the others duplicates).
  const B = o.sharedBlockBytes;
  const sharedBudget = Math.max(0, sizes.reduce((a, b) => a + b, 0) * o.duplicateFraction - wholeFileDuplicateBytes);
  const slots: { file: number; offset: number }[] = [];
  for (let f = 0; f < o.files; f++) {
    if (copyOf[f] !== undefined) continue;
    const n = Math.floor(sizes[f]! / B);
    const shift = n === 0 ? 0 : rng.int(0, sizes[f]! - n * B + 1);
    for (let s = 0; s < n; s++) slots.push({ file: f, offset: shift + s * B });
  }
  let repeats = Math.round(sharedBudget / B);
  let blocks = Math.ceil(repeats / 2);
  if (blocks + repeats > slots.length) {
    blocks = Math.ceil(slots.length / 3);
    repeats = Math.max(0, slots.length - blocks);
  }
  const placed = shuffle(rng, slots).slice(0, blocks + repeats);
  const placements = new Map<number, { offset: number; block: number }[]>();
  placed.forEach((p, k) => {
    const list = placements.get(p.file) ?? [];
    list.push({ offset: p.offset, block: k % Math.max(1, blocks) });
    placements.set(p.file, list);
  });
  const blockSegments = Array.from({ length: blocks }, (_, b) =>
    uniqueRuns(createRng(`corpus/${seed}/block/${b}`), `${seed}/b${b}`, B, o.segmentBytes, o.compressibleFraction),
  );

  // 4. Segments of every original file: shared blocks at their slots, unique runs around them.
  const segmentsOf: CorpusSegment[][] = [];
  for (let f = 0; f < o.files; f++) {
    if (copyOf[f] !== undefined) continue;
    const fr = createRng(`corpus/${seed}/file/${f}`);
    const segs: CorpusSegment[] = [];
    let at = 0;
    let gap = 0;
    for (const p of (placements.get(f) ?? []).sort((a, b) => a.offset - b.offset)) {
      if (p.offset > at) segs.push(...uniqueRuns(fr, `${seed}/f${f}/g${gap++}`, p.offset - at, o.segmentBytes, o.compressibleFraction));
      segs.push({ kind: 'shared', block: p.block, length: B });
      at = p.offset + B;
    }
    if (sizes[f]! > at) segs.push(...uniqueRuns(fr, `${seed}/f${f}/g${gap}`, sizes[f]! - at, o.segmentBytes, o.compressibleFraction));
    segmentsOf[f] = segs;
  }

  const files: CorpusFile[] = sizes.map((size, index) => {
    const src = copyOf[index];
    return {
      index,
      path: pathOf(index, o.files),
      size,
      ...(src === undefined ? {} : { copyOf: src }),
      segments: segmentsOf[src ?? index] ?? [],
    };
  });

  let textBytes = 0;
  const countText = (segs: readonly CorpusSegment[]): void => {
    for (const s of segs) {
      if (s.kind === 'text') textBytes += s.length;
      else if (s.kind === 'shared') countText(blockSegments[s.block] ?? []);
    }
  };
  for (const f of files) countText(f.segments);

  function fill(out: Uint8Array, segs: readonly CorpusSegment[]): void {
    let at = 0;
    for (const s of segs) {
      const view = out.subarray(at, at + s.length);
      if (s.kind === 'shared') fill(view, blockSegments[s.block] ?? []);
      else if (s.kind === 'text') fillText(view, s.key);
      else fillRandom(view, s.key);
      at += s.length;
    }
  }

  function fileBytes(index: number): Buffer {
    const f = files[index];
    if (f === undefined) throw invalidArgument(`corpus has no file ${index}`);
    const out = Buffer.allocUnsafe(f.size);
    fill(out, f.segments);
    return out;
  }

  return {
    options: o,
    files,
    totalBytes: sizes.reduce((a, b) => a + b, 0),
    duplicateBytes: wholeFileDuplicateBytes + repeats * B,
    wholeFileDuplicateBytes,
    sharedBlockDuplicateBytes: repeats * B,
    textBytes,
    fileBytes,
    *pieces(index, pieceBytes = MiB) {
      // Views of one fresh buffer that nothing writes to afterwards: consumers may keep them.
      const all = fileBytes(index);
      for (let at = 0; at < all.length; at += pieceBytes) yield all.subarray(at, at + pieceBytes);
    },
  };
}

/** Writes every file of `corpus` under `dir` (created when missing). */
export async function writeCorpus(corpus: Corpus, dir: string): Promise<void> {
  for (const f of corpus.files) {
    const path = join(dir, ...f.path.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, corpus.fileBytes(f.index));
  }
}
