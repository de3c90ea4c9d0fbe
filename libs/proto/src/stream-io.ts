import type { Readable } from 'node:stream';

/** The part of a grpc-js writable call stream (server or client side) the pump uses. */
export interface WritableCall {
  write(chunk: unknown, callback?: (err?: Error | null) => void): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** The newest write each pump issued, settled when grpc-js has handed it to HTTP/2. */
const lastWrites = new WeakMap<object, Promise<void>>();

/**
 * Resolves once the newest message written by `writeAll` on `stream` has been flushed (or
 * at once when there is none). grpc-js sends a server stream's final status from the
 * stream's `_final`, and an error ending the stream while a write is still in flight can
 * leave that status unsent; waiting for the write first closes that window.
 */
export function writesSettled(stream: object): Promise<void> {
  return lastWrites.get(stream) ?? Promise.resolve();
}

/** Resolves with `promise`, or rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function waitForDrain(stream: WritableCall, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(signal.aborted ? signal.reason : new Error('stream closed while waiting to write'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason);
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Pumps `source` into a call stream, pulling the next item only when the stream
 * accepted the previous one: when `write()` returns false the pump waits for
 * 'drain', so a slow peer holds back the producer instead of growing a buffer (the
 * stream buffers at most its object high-water mark, 16 messages). Stops when the
 * source ends, throws (rethrown), or `signal` aborts (rejects with its reason); in
 * the latter cases the source iterator is told to return so its producer can stop.
 */
export async function writeAll(stream: WritableCall, source: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      const result = await abortable(iterator.next(), signal);
      if (result.done) {
        exhausted = true;
        return;
      }
      signal.throwIfAborted();
      let flushed!: () => void;
      lastWrites.set(stream, new Promise<void>((resolve) => (flushed = resolve)));
      if (!stream.write(result.value, () => flushed())) await waitForDrain(stream, signal);
    }
  } finally {
    // Not awaited: an async generator suspended inside its body only runs return()
    // once it yields again, and the pump must not wait for that.
    if (!exhausted && iterator.return) iterator.return().catch(() => undefined);
  }
}

/**
 * Reads a grpc-js call stream as an async iterable, mapping each message with
 * `check` (which may throw). Breaking out of the loop leaves the call stream intact
 * (a bidi handler may stop reading and keep writing). When `signal` is given, a
 * pending read rejects with its reason as soon as it aborts.
 */
export async function* readAll<T>(
  stream: Readable,
  check: (value: unknown) => T,
  signal?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const iterator = stream.iterator({ destroyOnReturn: false });
  try {
    for (;;) {
      const result = signal ? await abortable(iterator.next(), signal) : await iterator.next();
      if (result.done) return;
      yield check(result.value);
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    iterator.return?.().catch(() => undefined);
  }
}
