import { constants } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { HavenError, invalidArgument } from '@haven/core';
import { identityOf, metaFromStats, sameIdentity } from './entry-meta.js';
import type { EntryMeta, FileIdentity } from './entry-meta.js';
import { isWithin, realPathOfFd } from './proc-fd.js';

/*
 * Read a file so that what is delivered is one version of it, never a mix of two.
 *
 * Stat before, read in bounded pieces, stat after (the open descriptor and the path):
 * any write changes ctime, so equal stats mean the bytes read are one version. Two holes
 * in that reasoning are closed here:
 *  - Timestamps come from the kernel's coarse clock (one tick, up to 10 ms). A write in
 *    the same tick as the last one before our first stat leaves ctime unchanged. So a
 *    file changed less than `racyWindowMs` ago is not read until it is older: after that
 *    every write gets a later timestamp than the one we saw (git's "racily clean" rule).
 *  - A path renamed over during the read (an editor's atomic save) leaves our inode's
 *    stat unchanged; the lstat() of the path catches it.
 * Residual: a single write() call that spans the whole read and started before it, and
 * writes through a shared mmap before writeback; no stat-based reader sees those.
 */

const MIB = 1024 * 1024;

export interface StableReadOptions {
  /**
   * Receives the file's bytes in order, `offset` being where `buf` starts. Each buffer is
   * fresh (the reader keeps no reference). Awaited: a slow consumer slows the read.
   */
  onData(buf: Buffer, offset: number): void | Promise<void>;
  /** The file changed during the read: drop everything delivered so far; it is read again from 0. */
  onRestart?(attempt: number): void | Promise<void>;
  /** Re-reads after a torn read before giving up with `unstable` (default 3). */
  maxRetries?: number;
  /** Bytes per read (default 1 MiB). */
  chunkSize?: number;
  /** Real path of the protected root (resolveRoot): a file that resolves outside it is not read. */
  within?: string;
  /** Continue an earlier read at `offset` if the file is still exactly `identity`. */
  resume?: { offset: number; identity: FileIdentity };
  /** A file changed more recently than this is read only once it is older (default 25 ms). */
  racyWindowMs?: number;
  signal?: AbortSignal;
}

export type StableReadResult =
  /** `meta` is the stat that held for the whole read; `bytes` were delivered from `startOffset`. */
  | { status: 'ok'; meta: EntryMeta; startOffset: number; bytes: number; attempts: number }
  /** Changed during every attempt: keep it pending and try again later. */
  | { status: 'unstable'; attempts: number }
  /** Gone before or while it was read. */
  | { status: 'vanished' }
  /** The path is now a directory, symlink, FIFO, socket or device. */
  | { status: 'not-a-file' }
  /** The path resolves outside `within` (a parent was swapped for a symlink). */
  | { status: 'outside-root'; realPath: string };

type Attempt = StableReadResult | { status: 'torn' };

const codeOf = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;

// O_NONBLOCK: opening a FIFO that replaced the file must not wait for a writer.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function ioError(path: string, err: unknown): HavenError {
  const code = codeOf(err);
  if (code === 'EACCES' || code === 'EPERM') {
    return new HavenError('PERMISSION_DENIED', `cannot read ${path}: permission denied`, { cause: err });
  }
  return new HavenError('UNAVAILABLE', `cannot read ${path}: ${code ?? String(err)}`, { cause: err });
}

function checkOptions(o: StableReadOptions): void {
  const chunk = o.chunkSize ?? MIB;
  if (!Number.isSafeInteger(chunk) || chunk < 1 || chunk > 64 * MIB) {
    throw invalidArgument(`chunkSize must be an integer in [1, 64 MiB], got ${chunk}`);
  }
  const retries = o.maxRetries ?? 3;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw invalidArgument(`maxRetries must be a non-negative integer, got ${retries}`);
  }
  if (o.resume !== undefined && (!Number.isSafeInteger(o.resume.offset) || o.resume.offset < 0)) {
    throw invalidArgument(`resume offset must be a non-negative integer, got ${o.resume.offset}`);
  }
}

/** Reads `absPath` in bounded pieces and returns the stat that held for the whole read. */
export async function readFileStable(absPath: string, options: StableReadOptions): Promise<StableReadResult> {
  checkOptions(options);
  const maxRetries = options.maxRetries ?? 3;
  for (let attempt = 1; attempt <= maxRetries + 1; attempt++) {
    if (attempt > 1) await options.onRestart?.(attempt);
    const r = await readOnce(absPath, options, attempt);
    if (r.status !== 'torn') return r;
  }
  return { status: 'unstable', attempts: maxRetries + 1 };
}

async function readOnce(absPath: string, o: StableReadOptions, attempt: number): Promise<Attempt> {
  let fh: FileHandle;
  try {
    fh = await open(absPath, OPEN_FLAGS);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'vanished' };
    if (code === 'ELOOP' || code === 'ENXIO') return { status: 'not-a-file' };
    throw ioError(absPath, err);
  }
  try {
    if (o.within !== undefined) {
      const real = await realPathOfFd(fh.fd);
      if (real !== undefined && !isWithin(o.within, real)) return { status: 'outside-root', realPath: real };
    }
    let before = await fh.stat({ bigint: true });
    if (!before.isFile()) return { status: 'not-a-file' };

    const racy = o.racyWindowMs ?? 25;
    const age = Date.now() - Number(before.ctimeNs / 1_000_000n);
    if (age < racy) {
      await sleep(racy - Math.max(age, 0) + 1);
      const settled = await fh.stat({ bigint: true });
      if (!sameIdentity(identityOf(settled), identityOf(before))) return { status: 'torn' };
      before = settled;
    }

    const size = before.size;
    let pos = 0;
    if (attempt === 1 && o.resume !== undefined && sameIdentity(identityOf(before), o.resume.identity)) {
      pos = Math.min(o.resume.offset, Number(size));
    }
    const startOffset = pos;
    const chunkSize = o.chunkSize ?? MIB;
    // Read exactly the size seen before: a file that grows or shrinks fails the re-stat
    // anyway, and a fast-growing log cannot keep one read going forever.
    while (BigInt(pos) < size) {
      if (o.signal?.aborted) {
        throw new HavenError('CANCELLED', `read of ${absPath} cancelled`, { cause: o.signal.reason });
      }
      const want = Number(size - BigInt(pos) < BigInt(chunkSize) ? size - BigInt(pos) : BigInt(chunkSize));
      const buf = Buffer.allocUnsafe(want);
      let got: number;
      try {
        got = (await fh.read(buf, 0, want, pos)).bytesRead;
      } catch (err) {
        throw ioError(absPath, err);
      }
      if (got === 0) return { status: 'torn' }; // truncated under us
      const r = o.onData(got === want ? buf : buf.subarray(0, got), pos);
      if (r !== undefined) await r;
      pos += got;
    }

    const after = await fh.stat({ bigint: true });
    let atPath: BigIntStats;
    try {
      atPath = await lstat(absPath, { bigint: true });
    } catch (err) {
      const code = codeOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'vanished' };
      throw ioError(absPath, err);
    }
    const seen = identityOf(before);
    if (!sameIdentity(seen, identityOf(after)) || !sameIdentity(seen, identityOf(atPath))) return { status: 'torn' };
    const meta = metaFromStats(after, 'file');
    return { status: 'ok', meta, startOffset, bytes: pos - startOffset, attempts: attempt };
  } finally {
    await fh.close();
  }
}
