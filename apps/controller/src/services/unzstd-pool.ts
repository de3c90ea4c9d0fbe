import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { HavenError } from '@haven/core';
import type { ChunkId } from '@haven/core';

/**
 * Decompression and hashing of uploaded zstd chunks on worker threads, so that a controller
 * verifies uploads on more than one core: on one thread, decompressing and re-hashing every
 * compressed chunk was about a fifth of the controller's main thread during ingest, and that
 * thread also runs gRPC, the store's encryption and the catalog.
 */
export interface UnzstdPool {
  /**
   * Decompresses `frame` (which must hold exactly `rawLength` bytes; CORRUPT naming `what`
   * otherwise) and
   * calls `use` with the plaintext and its chunk id. The plaintext is valid only during the
   * synchronous part of `use` (it lives in memory the pool reuses).
   */
  run<T>(what: string, frame: Uint8Array, rawLength: number, use: (raw: Uint8Array, id: ChunkId) => T): Promise<T>;
  close(): Promise<void>;
}

/** Chunks in flight per worker: one being worked on and the next ones queued, so it never waits. */
const SLOTS_PER_WORKER = 4;

interface Slot {
  readonly worker: number;
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  done?: ((reply: Reply | undefined) => void) | undefined;
}

interface Reply {
  readonly slot: number;
  /** Plaintext length, or -1 with `error`. */
  readonly length: number;
  readonly id: string;
  readonly error?: string;
}

/*
 * The worker's code, evaluated rather than loaded from a file so that it runs the same from
 * dist/ and from the TypeScript sources under test; it requires the native modules by path.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.zstd);
const { blake3 } = require(workerData.blake);
const dctx = new zstd.DCtx();
parentPort.on('message', ({ slot, input, output, length, rawLength }) => {
  let n;
  try {
    // Room for exactly rawLength bytes: a frame that holds more fails here ("too small").
    n = dctx.decompress(new Uint8Array(output, 0, rawLength), new Uint8Array(input, 0, length));
  } catch (err) {
    parentPort.postMessage({ slot, length: -1, id: '', error: 'data does not decompress' });
    return;
  }
  const id = blake3(new Uint8Array(output, 0, n)).toString('hex');
  parentPort.postMessage({ slot, length: n, id });
});
`;

function sharedBytes(atLeast: number): SharedArrayBuffer {
  let size = 1024 * 1024;
  while (size < atLeast) size *= 2;
  return new SharedArrayBuffer(size);
}

/**
 * `threads` workers (at least 1). The frame is copied into a slot of shared memory and the
 * plaintext read from there: nothing is allocated per chunk on either side (a fresh
 * megabyte per chunk is external memory the GC answers with full collections).
 *
 * If a worker cannot start or dies, its chunks and every later one are verified on the
 * calling thread instead (`fallback`): a missing helper thread makes ingest slower, never
 * wrong.
 */
export function createUnzstdPool(options: {
  threads: number;
  /** The same work on the calling thread. */
  fallback: (frame: Uint8Array, rawLength: number, what: string) => { raw: Uint8Array; id: ChunkId };
  /** Path of the zstd binding the workers load (a test points it at a missing file). */
  zstdBinding?: string;
}): UnzstdPool {
  const require = createRequire(import.meta.url);
  const data = { zstd: options.zstdBinding ?? require.resolve('zstd-napi/binding.js'), blake: require.resolve('@napi-rs/blake-hash') };
  const threads = Math.max(1, Math.floor(options.threads));
  const workers: Array<Worker | undefined> = [];
  const slots: Slot[] = [];
  const free: number[] = [];
  const waiting: Array<(slot: number) => void> = [];
  let busy = 0;
  let broken = false;
  let closed = false;

  // Slot i belongs to worker i % threads; handed out lowest first, so work spreads across workers.
  for (let i = 0; i < threads * SLOTS_PER_WORKER; i++) slots.push({ worker: i % threads, input: sharedBytes(0), output: sharedBytes(0) });
  for (let i = slots.length - 1; i >= 0; i--) free.push(i);

  const fail = (): void => {
    if (broken) return;
    broken = true;
    for (const w of workers) void w?.terminate();
    workers.length = 0;
    for (const slot of slots) {
      const done = slot.done;
      slot.done = undefined;
      done?.(undefined);
    }
  };

  const workerFor = (i: number): Worker => {
    let w = workers[i];
    if (w !== undefined) return w;
    w = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
    w.unref();
    w.on('message', (reply: Reply) => {
      const slot = slots[reply.slot];
      const done = slot?.done;
      if (slot === undefined || done === undefined) return;
      slot.done = undefined;
      done(reply);
    });
    w.on('error', fail);
    w.on('exit', () => {
      if (!closed) fail();
    });
    workers[i] = w;
    return w;
  };

  const acquire = (): Promise<number> => {
    const i = free.pop();
    if (i !== undefined) return Promise.resolve(i);
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (i: number): void => {
    const next = waiting.shift();
    if (next !== undefined) {
      next(i);
      return;
    }
    free.push(i);
  };

  const here = <T>(what: string, frame: Uint8Array, rawLength: number, use: (raw: Uint8Array, id: ChunkId) => T): T => {
    const r = options.fallback(frame, rawLength, what);
    return use(r.raw, r.id);
  };

  return {
    async run(what, frame, rawLength, use) {
      if (broken || closed) return here(what, frame, rawLength, use);
      const i = await acquire();
      busy++;
      try {
        const slot = slots[i]!;
        if (broken) return here(what, frame, rawLength, use);
        if (slot.input.byteLength < frame.length) slot.input = sharedBytes(frame.length);
        if (slot.output.byteLength < rawLength) slot.output = sharedBytes(rawLength);
        new Uint8Array(slot.input, 0, frame.length).set(frame);
        const w = workerFor(slot.worker);
        w.ref();
        const reply = await new Promise<Reply | undefined>((resolve) => {
          slot.done = resolve;
          w.postMessage({ slot: i, input: slot.input, output: slot.output, length: frame.length, rawLength });
        });
        if (reply === undefined) return here(what, frame, rawLength, use);
        if (reply.error !== undefined) throw new HavenError('CORRUPT', `${what}: ${reply.error}`);
        return use(new Uint8Array(slot.output, 0, reply.length), reply.id);
      } finally {
        busy--;
        // Idle workers must not keep the process alive.
        if (busy === 0) for (const w of workers) w?.unref();
        release(i);
      }
    },
    async close() {
      closed = true;
      const ws = workers.splice(0);
      await Promise.all(ws.map((w) => w?.terminate()));
    },
  };
}
