import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { createZstdCompressor } from '@haven/core';

/** zstd compression on a worker thread, so that it overlaps the caller's own work. */
export interface ZstdPool {
  /**
   * Compresses `raw` and calls `use` with its zstd frame, or undefined when that would not be
   * smaller than `raw`. The frame is valid only during `use` (copy what must outlive it).
   */
  compress<T>(raw: Uint8Array, use: (frame: Uint8Array | undefined) => T): Promise<T>;
}

/**
 * Chunks on the worker at once: one being compressed and the next ones already queued, so
 * the worker never waits for this thread. Each slot grows to the largest chunk seen (two
 * buffers of up to 4 MiB for FastCDC's maximum).
 */
const SLOTS = 3;
/** Chunks larger than this are compressed on the calling thread (FastCDC's maximum is 4 MiB). */
const MAX_SLOT_BYTES = 16 * 1024 * 1024;

/** Shared input and output memory of one chunk in flight, reused from chunk to chunk. */
interface Slot {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  /** Called with the frame length of the chunk in flight (-2: the worker failed first). */
  done?: ((frameLength: number) => void) | undefined;
}

interface Reply {
  readonly slot: number;
  /** Frame length, or -1 when the frame would not be smaller than the chunk. */
  readonly frameLength: number;
}

/*
 * The worker's code, evaluated rather than loaded from a file so that it runs the same from
 * dist/ and from the TypeScript sources under test; it requires zstd-napi by absolute path.
 * Same logic as createZstdCompressor, reading and writing the slot's shared memory.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.binding);
const cctx = new zstd.CCtx();
cctx.setParameter(zstd.CParameter.compressionLevel, workerData.level);
parentPort.on('message', ({ slot, input, output, length }) => {
  let frameLength = -1;
  if (length >= 2) {
    try {
      frameLength = cctx.compress2(new Uint8Array(output, 0, length - 1), new Uint8Array(input, 0, length));
    } catch {
      frameLength = -1;
    }
  }
  parentPort.postMessage({ slot, frameLength });
});
`;

function sharedBytes(atLeast: number): SharedArrayBuffer {
  let size = 1024 * 1024;
  while (size < atLeast) size *= 2;
  return new SharedArrayBuffer(size);
}

/**
 * One worker thread compressing chunks in the order given. A chunk is copied into a slot of
 * shared memory and its frame is read from there: no buffer is allocated per chunk on either
 * thread (transferring fresh buffers instead cost the agent about 1.5 s of CPU per GiB in
 * garbage collection), and a chunk that is a view of a larger read buffer shared with other
 * chunks need not own its memory.
 *
 * When it pays: zstd is about a third of the agent's CPU, and here it overlaps everything
 * else the agent does. On the ingest bench (agent and controller sharing 2 cores) it gained
 * about 5% in MB/s for about 1.3 s more agent CPU per GiB, since both cores were busy anyway
 * and compression next to other work ran slower; an agent with a core to itself gains more.
 *
 * The worker holds the process open only while it has work. If it fails (it cannot start, or
 * dies), the chunks it held and every later one are compressed on the calling thread instead:
 * a missing helper thread makes uploads slower, never fail.
 */
export function createZstdPool(level: number, options: { workerBinding?: string } = {}): ZstdPool {
  // The binding the worker loads; a test points it at a missing file to exercise the fallback.
  const binding = options.workerBinding ?? createRequire(import.meta.url).resolve('zstd-napi/binding.js');
  let worker: Worker | undefined;
  let broken = false;
  const slots: Slot[] = [];
  const free: number[] = [];
  const waiting: Array<(slot: number) => void> = [];
  let busy = 0;
  let inThread: ((raw: Uint8Array) => Uint8Array | undefined) | undefined;

  const compressHere = (raw: Uint8Array): Uint8Array | undefined => {
    inThread ??= createZstdCompressor(level);
    return inThread(raw);
  };

  const release = (i: number): void => {
    const next = waiting.shift();
    if (next !== undefined) {
      next(i);
      return;
    }
    free.push(i);
    busy--;
    if (busy === 0) worker?.unref();
  };

  const fail = (): void => {
    if (broken) return;
    broken = true;
    const w = worker;
    worker = undefined;
    void w?.terminate();
    // Finish what the worker held here; later calls compress here from the start.
    for (const slot of slots) {
      const done = slot.done;
      slot.done = undefined;
      done?.(-2);
    }
  };

  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { binding, level },
    });
    w.unref();
    w.on('message', (reply: Reply) => {
      const slot = slots[reply.slot];
      const done = slot?.done;
      if (slot === undefined || done === undefined) return;
      slot.done = undefined;
      done(reply.frameLength);
    });
    w.on('error', fail);
    w.on('exit', fail);
    return w;
  };

  const acquire = (): Promise<number> => {
    const i = free.pop();
    if (i !== undefined) {
      busy++;
      return Promise.resolve(i);
    }
    if (slots.length < SLOTS) {
      slots.push({ input: sharedBytes(0), output: sharedBytes(0) });
      busy++;
      return Promise.resolve(slots.length - 1);
    }
    return new Promise((resolve) => waiting.push(resolve));
  };

  return {
    async compress(raw, use) {
      if (broken || raw.length > MAX_SLOT_BYTES) return use(compressHere(raw));
      const i = await acquire();
      try {
        const slot = slots[i];
        if (broken || slot === undefined) return use(compressHere(raw));
        if (slot.input.byteLength < raw.length) {
          slot.input = sharedBytes(raw.length);
          slot.output = sharedBytes(raw.length);
        }
        new Uint8Array(slot.input, 0, raw.length).set(raw);
        const w = (worker ??= start());
        w.ref();
        const frameLength = await new Promise<number>((resolve) => {
          slot.done = resolve;
          w.postMessage({ slot: i, input: slot.input, output: slot.output, length: raw.length });
        });
        // -2: the worker failed before answering.
        if (frameLength === -2) return use(compressHere(raw));
        return use(frameLength < 0 ? undefined : new Uint8Array(slot.output, 0, frameLength));
      } finally {
        release(i);
      }
    },
  };
}

const shared = new Map<number, ZstdPool>();

/** The process's pool for `level` (one worker thread per level in use). */
export function sharedZstdPool(level: number): ZstdPool {
  let pool = shared.get(level);
  if (pool === undefined) {
    pool = createZstdPool(level);
    shared.set(level, pool);
  }
  return pool;
}
