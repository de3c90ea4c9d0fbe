/**
 * An async queue with one consumer: producers push messages at arbitrary times, the
 * consumer reads them with `for await`. A server handler returns one as the response
 * stream of a long-lived bidi session; the bridge pulls from it only when the
 * transport can take more, so `highWaterMark` bounds memory end to end.
 */
export interface Channel<T> extends AsyncIterable<T> {
  /**
   * Enqueues a value without waiting. Returns false when the queue is at or above its
   * high-water mark (the value is still queued) or when the consumer has gone away
   * (the value is dropped). Throws after `close()` or `fail()`.
   */
  push(value: T): boolean;
  /**
   * Waits until the queue is below its high-water mark, then enqueues. Rejects when
   * the channel is closed, the consumer has gone away, or `signal` aborts.
   */
  send(value: T, signal?: AbortSignal): Promise<void>;
  /** Ends the stream: the consumer receives what is queued, then the end. */
  close(): void;
  /** Ends the stream with an error: the consumer receives what is queued, then `err`. */
  fail(err: unknown): void;
  /** True once closed, failed, or abandoned by its consumer. */
  readonly closed: boolean;
  /** True once the consumer stopped reading (broke out of its loop, or the call ended). */
  readonly detached: boolean;
  /** Number of queued values. */
  readonly size: number;
}

export interface ChannelOptions {
  /** Queue length at which `push` returns false and `send` waits. Default: unbounded. */
  highWaterMark?: number;
}

type State = 'open' | 'closed' | 'failed' | 'detached';

interface Waiter<V> {
  resolve(value: V): void;
  reject(err: unknown): void;
}

export function createChannel<T>(options: ChannelOptions = {}): Channel<T> {
  const highWaterMark = options.highWaterMark ?? Number.POSITIVE_INFINITY;
  if (!(highWaterMark >= 1)) {
    throw new RangeError(`channel highWaterMark must be at least 1, got ${highWaterMark}`);
  }

  // A queue with a moving head: shift() on a long array is O(n).
  let items: T[] = [];
  let head = 0;
  let state: State = 'open';
  let failure: unknown;
  let failureDelivered = false;
  let reader: Waiter<IteratorResult<T>> | undefined;
  let spaceWaiters: Array<Waiter<void>> = [];
  let iterating = false;

  const size = (): number => items.length - head;

  function take(): T {
    const value = items[head] as T;
    items[head] = undefined as T;
    head += 1;
    if (head === items.length) {
      items = [];
      head = 0;
    } else if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
    return value;
  }

  function wakeProducers(): void {
    if (size() >= highWaterMark || spaceWaiters.length === 0) return;
    const waiters = spaceWaiters;
    spaceWaiters = [];
    for (const w of waiters) w.resolve();
  }

  function rejectProducers(err: Error): void {
    const waiters = spaceWaiters;
    spaceWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  function endResult(): Promise<IteratorResult<T>> {
    if (state === 'failed' && !failureDelivered) {
      failureDelivered = true;
      return Promise.reject(failure);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  function settleReader(): void {
    if (!reader) return;
    const r = reader;
    if (size() > 0) {
      reader = undefined;
      r.resolve({ value: take(), done: false });
      wakeProducers();
    } else if (state !== 'open') {
      reader = undefined;
      if (state === 'failed' && !failureDelivered) {
        failureDelivered = true;
        r.reject(failure);
      } else {
        r.resolve({ value: undefined, done: true });
      }
    }
  }

  function detach(): void {
    if (state === 'detached') return;
    state = 'detached';
    items = [];
    head = 0;
    rejectProducers(new Error('channel consumer has gone away'));
    settleReader();
  }

  const iterator: AsyncIterator<T> = {
    next(): Promise<IteratorResult<T>> {
      if (size() > 0) {
        const value = take();
        wakeProducers();
        return Promise.resolve({ value, done: false });
      }
      if (state !== 'open') return endResult();
      if (reader) return Promise.reject(new Error('channel supports a single pending read'));
      return new Promise((resolve, reject) => {
        reader = { resolve, reject };
      });
    },
    return(): Promise<IteratorResult<T>> {
      detach();
      return Promise.resolve({ value: undefined, done: true });
    },
  };

  return {
    push(value: T): boolean {
      if (state === 'closed' || state === 'failed') throw new Error('push on a closed channel');
      if (state === 'detached') return false;
      items.push(value);
      settleReader();
      return size() < highWaterMark;
    },
    async send(value: T, signal?: AbortSignal): Promise<void> {
      while (size() >= highWaterMark && state === 'open') {
        signal?.throwIfAborted();
        await new Promise<void>((resolve, reject) => {
          const waiter: Waiter<void> = {
            resolve: () => {
              signal?.removeEventListener('abort', onAbort);
              resolve();
            },
            reject: (err) => {
              signal?.removeEventListener('abort', onAbort);
              reject(err);
            },
          };
          const onAbort = (): void => {
            spaceWaiters = spaceWaiters.filter((w) => w !== waiter);
            reject(signal?.reason);
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          spaceWaiters.push(waiter);
        });
      }
      signal?.throwIfAborted();
      if (state === 'detached') throw new Error('channel consumer has gone away');
      if (state !== 'open') throw new Error('send on a closed channel');
      items.push(value);
      settleReader();
    },
    close(): void {
      if (state !== 'open') return;
      state = 'closed';
      rejectProducers(new Error('send on a closed channel'));
      settleReader();
    },
    fail(err: unknown): void {
      if (state !== 'open') return;
      state = 'failed';
      failure = err;
      rejectProducers(new Error('send on a failed channel'));
      settleReader();
    },
    get closed(): boolean {
      return state !== 'open';
    },
    get detached(): boolean {
      return state === 'detached';
    },
    get size(): number {
      return size();
    },
    [Symbol.asyncIterator](): AsyncIterator<T> {
      if (iterating) throw new Error('channel supports a single consumer');
      iterating = true;
      return iterator;
    },
  };
}
