import { writeAt } from './pack-files.js';

/** Linux's limit on the buffers of one writev (IOV_MAX). */
const MAX_PARTS = 1024;
/** Bytes one writev may carry, so a long queue still completes its first writes early. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

interface Write {
  readonly parts: readonly Buffer[];
  readonly pos: number;
  readonly length: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface Queue {
  readonly writes: Write[];
  busy: boolean;
}

/**
 * Positional writes to pack files, one writev at a time per descriptor: the writes queued
 * meanwhile that continue where the previous one ends (records appended to the open pack
 * always do) go out together in the next writev. Concurrent writevs to one file only queue
 * on its inode lock in the kernel, each on its own I/O-pool thread; one at a time, batched,
 * costs fewer system calls and thread hand-offs for the same bytes.
 *
 * Each write resolves when the writev that carried it completed, or rejects with its error
 * (a short write is an error, as in writeAt). Durability is still only fdatasync's business.
 */
export class PackWriter {
  private readonly queues = new Map<number, Queue>();
  /** writev calls issued so far (for tests and diagnostics). */
  writevCalls = 0;

  write(fd: number, parts: readonly Buffer[], pos: number, length: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let q = this.queues.get(fd);
      if (q === undefined) {
        q = { writes: [], busy: false };
        this.queues.set(fd, q);
      }
      q.writes.push({ parts, pos, length, resolve, reject });
      if (!q.busy) this.next(fd, q);
    });
  }

  private next(fd: number, q: Queue): void {
    const first = q.writes[0];
    if (first === undefined) {
      q.busy = false;
      this.queues.delete(fd);
      return;
    }
    q.busy = true;
    const parts: Buffer[] = [];
    let length = 0;
    let n = 0;
    for (const w of q.writes) {
      if (n > 0 && (w.pos !== first.pos + length || parts.length + w.parts.length > MAX_PARTS || length + w.length > MAX_BATCH_BYTES)) break;
      parts.push(...w.parts);
      length += w.length;
      n++;
    }
    const batch = q.writes.splice(0, n);
    this.writevCalls++;
    writeAt(fd, parts, first.pos, length).then(
      () => {
        for (const w of batch) w.resolve();
        this.next(fd, q);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
        this.next(fd, q);
      },
    );
  }
}
