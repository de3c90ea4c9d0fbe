import { randomBytes } from 'node:crypto';
import { chmod, chown, lchown, lstat, lutimes, mkdir, open, rename, rm, symlink, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HavenError, chunkIdOf, corrupt, errorCodeOf, findHavenError, isAllZero, iterateContentRoot } from '@haven/core';
import type { ChunkId, ErrorCode } from '@haven/core';
import { createChunkBatcher } from './chunk-batcher.js';
import type { ChunkBatcher, ChunkBatcherOptions, FetchChunks } from './chunk-batcher.js';
import { entrySegments, openRestoreTarget } from './restore-target.js';
import type { RestoreTarget } from './restore-target.js';

/** One entry of a recovery point to write, with its path relative to the target. */
export interface RestoreEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  /** Permission bits (st_mode & 07777). */
  readonly mode: number;
  /** Modification time in epoch milliseconds (fractions allowed); unset leaves the time of writing. */
  readonly mtimeMs?: number | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** File length in bytes. */
  readonly size: number;
  /** Content root of a file with size > 0. */
  readonly contentRoot?: ChunkId | undefined;
  readonly symlinkTarget?: string | undefined;
}

export interface LocalRestoreOptions extends ChunkBatcherOptions {
  /** Directory to restore into; created when missing. Nothing is ever written outside it. */
  target: string;
  /** Entries in any order (listing order is fine); parents are created as needed. */
  entries: AsyncIterable<RestoreEntry> | Iterable<RestoreEntry>;
  fetch: FetchChunks;
  /** `always` (default) replaces existing entries; `never` keeps them and counts them as skipped. */
  overwrite?: 'always' | 'never';
  /** Restore uid/gid too (needs privileges; default false). */
  preserveOwner?: boolean;
  /** Files written at once (default 4). */
  concurrency?: number;
  /** Most chunk bytes one file holds requested ahead of writing (default 8 MiB). */
  fileWindowBytes?: number;
  /** Called after each entry with the running totals. */
  onProgress?: (report: Readonly<LocalRestoreReport>) => void;
}

export interface RestoreFailure {
  readonly path: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface LocalRestoreReport {
  files: number;
  dirs: number;
  symlinks: number;
  /** Logical bytes of the files written. */
  bytes: number;
  /** Data chunks fetched and verified against their ids. */
  chunks: number;
  /** Entries left alone because they existed and overwrite is `never`. */
  skipped: number;
  /** Entries that could not be restored; the first 1000 are in `failures`. */
  failed: number;
  failures: RestoreFailure[];
}

const MAX_FAILURES_LISTED = 1000;
/** Guess for a list chunk's size when asking for it (they are at most 64 KiB when built). */
const LIST_CHUNK_SIZE_HINT = 64 * 1024;
/**
 * Failures that concern one entry (bad path, damaged or missing data, something in the way);
 * the restore records them and goes on. Anything else (connection lost, disk full, no
 * permission) stops the whole restore.
 */
const ENTRY_CODES = new Set<ErrorCode>(['INVALID_ARGUMENT', 'NOT_FOUND', 'CORRUPT', 'FAILED_PRECONDITION']);
const ENTRY_ERRNOS = new Set(['EISDIR', 'ENOTDIR', 'EEXIST', 'ENOTEMPTY', 'ELOOP', 'ENAMETOOLONG']);
const ABORT_ERRNOS: Record<string, ErrorCode> = {
  ENOSPC: 'RESOURCE_EXHAUSTED',
  EDQUOT: 'RESOURCE_EXHAUSTED',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EROFS: 'FAILED_PRECONDITION',
};

/**
 * Writes entries of a recovery point into a local directory, the way every Haven restore
 * writes: files go to a temp file next to their final name, are verified chunk by chunk
 * (BLAKE3 of each chunk against its id, list chunks by `iterateContentRoot`, total length
 * against the entry), fsynced, given mode, owner and mtime, then renamed into place;
 * symlinks are created under a temp name and renamed; directory metadata is applied last,
 * deepest first, so writing children does not disturb it. Paths are confined to the target
 * (see `RestoreTarget`). Chunks are fetched through one batcher shared by all files.
 */
export async function localRestore(options: LocalRestoreOptions): Promise<LocalRestoreReport> {
  const target = await openRestoreTarget(options.target);
  const batcher = createChunkBatcher(options.fetch, options);
  const report: LocalRestoreReport = { files: 0, dirs: 0, symlinks: 0, bytes: 0, chunks: 0, skipped: 0, failed: 0, failures: [] };
  const ctx: WriteContext = {
    target,
    batcher,
    report,
    overwrite: options.overwrite ?? 'always',
    preserveOwner: options.preserveOwner ?? false,
    windowBytes: options.fileWindowBytes ?? 8 * 1024 * 1024,
    dirs: [],
    touched: new Set(),
    stopped: () => fatal !== undefined,
  };
  let fatal: { err: unknown } | undefined;

  const iterator = toAsyncIterator(options.entries);
  let turn: Promise<unknown> = Promise.resolve();
  // Iterators need not support concurrent next() calls: the workers take turns.
  const nextEntry = (): Promise<IteratorResult<RestoreEntry>> => {
    const p = turn.then(() => iterator.next());
    turn = p.catch(() => undefined);
    return p;
  };

  const worker = async (): Promise<void> => {
    while (fatal === undefined) {
      let next: IteratorResult<RestoreEntry>;
      try {
        next = await nextEntry();
      } catch (err) {
        fatal ??= { err: asHavenError(err) };
        return;
      }
      if (next.done === true) return;
      try {
        await restoreEntry(ctx, next.value);
      } catch (err) {
        if (isEntryFailure(err)) {
          recordFailure(report, next.value.path, err);
        } else {
          fatal ??= { err: asHavenError(err) };
          return;
        }
      }
      options.onProgress?.(report);
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  if (fatal !== undefined) {
    await iterator.return?.();
    throw fatal.err;
  }
  await finishDirectories(ctx);
  return report;
}

interface WriteContext {
  readonly target: RestoreTarget;
  readonly batcher: ChunkBatcher;
  readonly report: LocalRestoreReport;
  readonly overwrite: 'always' | 'never';
  readonly preserveOwner: boolean;
  readonly windowBytes: number;
  /** Directory entries whose metadata is applied at the end. */
  readonly dirs: Array<{ abs: string; depth: number; entry: RestoreEntry }>;
  /** Directories whose contents changed, fsynced at the end. */
  readonly touched: Set<string>;
  stopped(): boolean;
}

async function restoreEntry(ctx: WriteContext, entry: RestoreEntry): Promise<void> {
  const segments = entrySegments(entry.path);
  if (entry.type === 'dir') return restoreDir(ctx, segments, entry);
  if (segments.length === 0) throw new HavenError('INVALID_ARGUMENT', `the target root can only be a directory, not a ${entry.type}`);
  const parent = await ctx.target.ensureDir(segments.slice(0, -1));
  const abs = join(parent, segments[segments.length - 1]!);
  const existing = await lstatOrUndefined(abs);
  if (existing?.isDirectory() === true) {
    throw new HavenError('FAILED_PRECONDITION', `a directory is in the way of ${entry.type} "${entry.path}"`);
  }
  if (existing !== undefined && ctx.overwrite === 'never') {
    ctx.report.skipped++;
    return;
  }
  const tmp = join(parent, `.haven-restore-${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (entry.type === 'symlink') await writeSymlink(ctx, tmp, entry);
    else await writeFile(ctx, tmp, entry);
    await ctx.target.confirmInside(parent, segments.slice(0, -1));
    await rename(tmp, abs);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  ctx.touched.add(parent);
  if (entry.type === 'symlink') {
    ctx.report.symlinks++;
  } else {
    ctx.report.files++;
    ctx.report.bytes += entry.size;
  }
}

async function restoreDir(ctx: WriteContext, segments: string[], entry: RestoreEntry): Promise<void> {
  if (segments.length > 0) {
    const parent = await ctx.target.ensureDir(segments.slice(0, -1));
    const abs = join(parent, segments[segments.length - 1]!);
    const existing = await lstatOrUndefined(abs);
    if (existing !== undefined && !existing.isDirectory()) {
      if (ctx.overwrite === 'never') {
        ctx.report.skipped++;
        return;
      }
      // Replaced, never followed: a symlink here is removed, not entered.
      await ctx.target.confirmInside(parent, segments.slice(0, -1));
      await unlink(abs);
    }
    if (existing === undefined || !existing.isDirectory()) {
      await mkdir(abs, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      ctx.touched.add(parent);
    }
    await ctx.target.ensureDir(segments);
  }
  ctx.dirs.push({ abs: join(ctx.target.root, ...segments), depth: segments.length, entry });
  ctx.report.dirs++;
}

async function writeSymlink(ctx: WriteContext, tmp: string, entry: RestoreEntry): Promise<void> {
  const linkTarget = entry.symlinkTarget ?? '';
  if (linkTarget === '' || linkTarget.includes('\0')) {
    throw new HavenError('INVALID_ARGUMENT', `symlink "${entry.path}" has an empty or invalid target`);
  }
  // Written verbatim (it may be absolute or climb with ".."); restore never follows it.
  await symlink(linkTarget, tmp);
  if (ctx.preserveOwner && entry.uid !== undefined && entry.gid !== undefined) await lchown(tmp, entry.uid, entry.gid);
  if (entry.mtimeMs !== undefined) await lutimes(tmp, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
}

async function writeFile(ctx: WriteContext, tmp: string, entry: RestoreEntry): Promise<void> {
  const fh = await open(tmp, 'wx', 0o600);
  try {
    const written = await writeContent(ctx, fh, entry);
    if (written !== entry.size) {
      throw corrupt(`"${entry.path}": content is ${written} bytes, the catalog says ${entry.size}`);
    }
    // Skipped all-zero chunks leave holes; the length is set explicitly.
    await fh.truncate(written);
    await fh.sync();
    // chown before chmod: changing the owner clears setuid/setgid bits.
    if (ctx.preserveOwner && entry.uid !== undefined && entry.gid !== undefined) await fh.chown(entry.uid, entry.gid);
    await fh.chmod(entry.mode & 0o7777);
    if (entry.mtimeMs !== undefined) await fh.utimes(entry.mtimeMs / 1000, entry.mtimeMs / 1000);
  } finally {
    await fh.close();
  }
}

/** Streams a file's chunks in order with up to `windowBytes` requested ahead; returns bytes written. */
async function writeContent(ctx: WriteContext, fh: FileHandle, entry: RestoreEntry): Promise<number> {
  if (entry.contentRoot === undefined || entry.contentRoot === '') {
    if (entry.size !== 0) throw corrupt(`"${entry.path}" has ${entry.size} bytes but no content root`);
    return 0;
  }
  const window: Array<{ id: ChunkId; length: number; bytes: Promise<Uint8Array> }> = [];
  let windowBytes = 0;
  let position = 0;
  const writeNext = async (): Promise<void> => {
    const { id, length, bytes } = window.shift()!;
    windowBytes -= length;
    const data = await bytes;
    if (data.length !== length || chunkIdOf(data) !== id) {
      throw corrupt(`"${entry.path}": chunk ${id} at offset ${position} does not match its id`, { chunkId: id, path: entry.path });
    }
    if (!isAllZero(data)) await writeAt(fh, data, position);
    position += data.length;
    ctx.report.chunks++;
  };
  const fetchList = (id: ChunkId): Promise<Uint8Array> => ctx.batcher.get(id, LIST_CHUNK_SIZE_HINT);
  for await (const refs of iterateContentRoot(entry.contentRoot, fetchList)) {
    for (const ref of refs) {
      if (ctx.stopped()) throw new HavenError('CANCELLED', 'restore stopped');
      const bytes = ctx.batcher.get(ref.id, ref.length);
      // Awaited in order by writeNext; this only keeps an abandoned window quiet.
      bytes.catch(() => undefined);
      window.push({ id: ref.id, length: ref.length, bytes });
      windowBytes += ref.length;
      while (windowBytes > ctx.windowBytes && window.length > 1) await writeNext();
    }
  }
  while (window.length > 0) await writeNext();
  return position;
}

async function writeAt(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Directory metadata, deepest first (a parent's mtime would move with each child), then fsync. */
async function finishDirectories(ctx: WriteContext): Promise<void> {
  ctx.dirs.sort((a, b) => b.depth - a.depth);
  for (const { abs, entry } of ctx.dirs) {
    if (ctx.preserveOwner && entry.uid !== undefined && entry.gid !== undefined) await chown(abs, entry.uid, entry.gid);
    await chmod(abs, entry.mode & 0o7777);
    if (entry.mtimeMs !== undefined) await utimes(abs, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
  }
  for (const dir of ctx.touched) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isEntryFailure(err: unknown): boolean {
  if (findHavenError(err) !== undefined) return ENTRY_CODES.has(errorCodeOf(err));
  return ENTRY_ERRNOS.has((err as NodeJS.ErrnoException).code ?? '');
}

function asHavenError(err: unknown): unknown {
  if (findHavenError(err) !== undefined) return err;
  const errno = (err as NodeJS.ErrnoException).code;
  const code = errno === undefined ? undefined : ABORT_ERRNOS[errno];
  const message = err instanceof Error ? err.message : String(err);
  return new HavenError(code ?? 'INTERNAL', `restore stopped: ${message}`, { cause: err });
}

function recordFailure(report: LocalRestoreReport, path: string, err: unknown): void {
  report.failed++;
  if (report.failures.length >= MAX_FAILURES_LISTED) return;
  const haven = findHavenError(err);
  const code: ErrorCode = haven?.code ?? 'FAILED_PRECONDITION';
  const message = haven?.message ?? (err instanceof Error ? err.message : String(err));
  report.failures.push({ path, code, message: message.split('\n')[0] ?? message });
}

function toAsyncIterator<T>(source: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  const it = source[Symbol.iterator]();
  return {
    next: () => Promise.resolve(it.next()),
    return: () => Promise.resolve(it.return?.() ?? { done: true, value: undefined }),
  };
}
