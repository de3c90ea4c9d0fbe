import { closeSync, fdatasync, fsync, openSync, read, unlinkSync, writev } from 'node:fs';
import { join } from 'node:path';
import { HavenError } from '@haven/core';

/** Pack file name of pack `id`: 16 hex digits, so names sort in creation order. */
export function packName(id: number): string {
  return id.toString(16).padStart(16, '0') + '.pack';
}

export const PACK_NAME = /^([0-9a-f]{16})\.pack$/;

interface Entry {
  fd: number;
  refs: number;
  /** Writable packs (open or not yet synced) stay open; only idle readers are evicted. */
  pinned: boolean;
  /** Unlinked: close as soon as the last reader is done. */
  doomed: boolean;
}

/**
 * The open file descriptors of a pack directory. Reads are positional (pread on the
 * libuv pool) on cached descriptors, so any number run in parallel. A reader holds a
 * reference for the duration of its read: compaction can unlink a pack while a read of an
 * old location is in flight, and the descriptor is closed only after that read ends, so it
 * can never be reused for another file under the reader's feet.
 */
export class PackFiles {
  private readonly entries = new Map<number, Entry>();

  constructor(
    readonly dir: string,
    private readonly maxOpen: number,
  ) {}

  path(id: number): string {
    return join(this.dir, packName(id));
  }

  /** Registers the descriptor of a writable pack; it stays open until unpin(). */
  pin(id: number, fd: number): void {
    this.entries.set(id, { fd, refs: 0, pinned: true, doomed: false });
  }

  unpin(id: number): void {
    const e = this.entries.get(id);
    if (e) e.pinned = false;
    this.evict();
  }

  fdOf(id: number): number {
    const e = this.entries.get(id);
    if (!e) throw new HavenError('INTERNAL', `pack ${packName(id)} is not open`);
    return e.fd;
  }

  /** Reads `length` bytes at `pos`; fewer when the file ends first. */
  async read(id: number, pos: number, length: number): Promise<Buffer> {
    const e = this.acquire(id);
    try {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = await new Promise<number>((resolve, reject) => {
          read(e.fd, buf, done, length - done, pos + done, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
        });
        if (n === 0) break;
        done += n;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      this.release(e);
    }
  }

  /** Unlinks pack `id`; its descriptor closes when the last in-flight read ends. */
  remove(id: number): void {
    unlinkSync(this.path(id));
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.doomed = true;
    if (e.refs === 0) closeSync(e.fd);
  }

  closeAll(): void {
    for (const e of this.entries.values()) closeSync(e.fd);
    this.entries.clear();
  }

  private acquire(id: number): Entry {
    let e = this.entries.get(id);
    if (e) {
      // Re-inserting keeps the Map in least-recently-used order for eviction.
      this.entries.delete(id);
      this.entries.set(id, e);
    } else {
      let fd: number;
      try {
        fd = openSync(this.path(id), 'r');
      } catch (err) {
        throw new HavenError('CORRUPT', `pack ${packName(id)} cannot be opened`, { cause: err, details: { pack: packName(id) } });
      }
      e = { fd, refs: 0, pinned: false, doomed: false };
      this.entries.set(id, e);
      this.evict();
    }
    e.refs += 1;
    return e;
  }

  private release(e: Entry): void {
    e.refs -= 1;
    if (e.refs === 0 && e.doomed) closeSync(e.fd);
    else if (e.refs === 0) this.evict();
  }

  private evict(): void {
    if (this.entries.size <= this.maxOpen) return;
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.maxOpen) return;
      if (e.refs === 0 && !e.pinned) {
        this.entries.delete(id);
        closeSync(e.fd);
      }
    }
  }
}

/** Positional writev of all of `parts` at `pos`; a short write is an error. */
export function writeAt(fd: number, parts: readonly Buffer[], pos: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    writev(fd, parts as Buffer[], pos, (err, written) => {
      if (err) reject(err);
      else if (written !== length) reject(new Error(`short write: ${written} of ${length} bytes`));
      else resolve();
    });
  });
}

export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync of a directory, so that file creations, renames and unlinks in it are durable. */
export function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  return new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve()))).finally(() =>
    closeSync(fd),
  );
}
