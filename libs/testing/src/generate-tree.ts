import { appendFileSync, chmodSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

/** A small deterministic PRNG (mulberry32): the same seed builds the same tree. */
export function createRng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] as never };
}

type Rng = ReturnType<typeof createRng>;

/** Bytes that are partly compressible (text-like) and partly random, from the rng. */
export function contentBytes(rng: Rng, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let i = 0;
  while (i < size) {
    const run = Math.min(size - i, 512 + rng.int(8192));
    if (rng.next() < 0.5) {
      const word = `w${rng.int(5000)} `;
      for (let j = 0; j < run; j++) buf[i + j] = word.charCodeAt(j % word.length);
    } else {
      for (let j = 0; j < run; j += 4) buf.writeUInt32LE((rng.next() * 0x100000000) >>> 0, Math.min(i + j, size - 4 < 0 ? 0 : size - 4));
    }
    i += run;
  }
  return buf;
}

export interface GeneratedTree {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/**
 * A tree of `files` regular files spread over nested directories, with empty files,
 * empty directories and relative symlinks, totalling about `totalBytes` (a few large
 * files carry most of the bytes, like real data).
 */
export function generateTree(root: string, options: { files: number; totalBytes: number; seed: number }): GeneratedTree {
  const rng = createRng(options.seed);
  mkdirSync(root, { recursive: true });
  const dirs: string[] = [''];
  const dirCount = Math.max(4, Math.floor(options.files / 40));
  for (let i = 0; i < dirCount; i++) {
    const parent = rng.pick(dirs);
    const d = parent === '' ? `d${i}` : `${parent}/d${i}`;
    mkdirSync(join(root, d), { recursive: true });
    dirs.push(d);
  }
  for (let i = 0; i < 5; i++) mkdirSync(join(root, rng.pick(dirs), `empty-${i}`), { recursive: true });
  const big = Math.max(1, Math.floor(options.files / 500));
  const bigBytes = Math.floor(options.totalBytes * 0.7);
  const smallBytes = options.totalBytes - bigBytes;
  const smallFiles = options.files - big;
  const out: GeneratedTree = { files: 0, dirs: dirs.length - 1 + 5, symlinks: 0, bytes: 0 };
  for (let i = 0; i < options.files; i++) {
    const dir = rng.pick(dirs);
    const path = join(root, dir, `f${i}.dat`);
    let size: number;
    if (i < big) size = Math.floor(bigBytes / big);
    else if (i % 50 === 7) size = 0;
    else size = Math.max(1, Math.floor((smallBytes / smallFiles) * (0.2 + rng.next() * 1.6)));
    writeFileSync(path, contentBytes(rng, size));
    if (rng.next() < 0.1) chmodSync(path, 0o600);
    out.files++;
    out.bytes += size;
    if (i % 100 === 3) {
      symlinkSync(`f${i}.dat`, join(root, dir, `l${i}`));
      out.symlinks++;
    }
  }
  return out;
}

function listFiles(root: string, rel = '', out: string[] = []): string[] {
  for (const name of readdirSync(join(root, rel))) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, p));
    if (st.isDirectory()) listFiles(root, p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/**
 * One round of the edits an operator's data sees: create, modify in place, append,
 * truncate, delete, rename a file and a directory, chmod. Returns a description.
 */
export function applyEditRound(root: string, seed: number): string[] {
  const rng = createRng(seed);
  const files = listFiles(root).sort();
  const did: string[] = [];
  const take = (): string | undefined => {
    if (files.length === 0) return undefined;
    return files.splice(rng.int(files.length), 1)[0];
  };
  for (let i = 0; i < 20; i++) {
    const p = `new-${seed}-${i}.dat`;
    writeFileSync(join(root, p), contentBytes(rng, 100 + rng.int(200_000)));
    did.push(`create ${p}`);
  }
  for (let i = 0; i < 10; i++) {
    const p = take();
    if (p === undefined) break;
    const size = statSync(join(root, p)).size;
    if (size === 0) continue;
    const fd = openSync(join(root, p), 'r+');
    writeSync(fd, contentBytes(rng, Math.min(size, 4096)), 0, Math.min(size, 4096), rng.int(size));
    closeSync(fd);
    did.push(`modify ${p}`);
  }
  for (let i = 0; i < 10; i++) {
    const p = take();
    if (p === undefined) break;
    appendFileSync(join(root, p), contentBytes(rng, 1 + rng.int(50_000)));
    did.push(`append ${p}`);
  }
  for (let i = 0; i < 5; i++) {
    const p = take();
    if (p === undefined) break;
    truncateSync(join(root, p), Math.floor(statSync(join(root, p)).size / 3));
    did.push(`truncate ${p}`);
  }
  for (let i = 0; i < 10; i++) {
    const p = take();
    if (p === undefined) break;
    rmSync(join(root, p));
    did.push(`delete ${p}`);
  }
  for (let i = 0; i < 5; i++) {
    const p = take();
    if (p === undefined) break;
    renameSync(join(root, p), join(root, `${p}.renamed`));
    did.push(`rename ${p}`);
  }
  for (let i = 0; i < 5; i++) {
    const p = take();
    if (p === undefined) break;
    chmodSync(join(root, p), rng.pick([0o600, 0o640, 0o755, 0o444]));
    did.push(`chmod ${p}`);
  }
  const dirs = readdirSync(root).filter((n) => lstatSync(join(root, n)).isDirectory() && n.startsWith('d'));
  if (dirs.length > 0) {
    const d = rng.pick(dirs.sort());
    renameSync(join(root, d), join(root, `${d}-moved-${seed}`));
    did.push(`rename dir ${d}`);
  }
  mkdirSync(join(root, `empty-new-${seed}`));
  did.push(`mkdir empty-new-${seed}`);
  return did;
}
