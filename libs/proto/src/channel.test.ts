import { describe, expect, it } from 'vitest';

import { createChannel } from './channel.js';

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('createChannel', () => {
  it('delivers pushed values in order, then the end after close', async () => {
    const channel = createChannel<number>();
    channel.push(1);
    channel.push(2);
    const reading = drain(channel);
    channel.push(3);
    channel.close();
    expect(await reading).toEqual([1, 2, 3]);
    expect(channel.closed).toBe(true);
  });

  it('wakes a waiting reader when a value arrives', async () => {
    const channel = createChannel<string>();
    const iterator = channel[Symbol.asyncIterator]();
    const pending = iterator.next();
    setTimeout(() => channel.push('late'), 10);
    expect(await pending).toEqual({ value: 'late', done: false });
  });

  it('delivers queued values before the failure', async () => {
    const channel = createChannel<number>();
    channel.push(1);
    channel.fail(new Error('boom'));
    const iterator = channel[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    await expect(iterator.next()).rejects.toThrow('boom');
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('refuses pushes after close', () => {
    const channel = createChannel<number>();
    channel.close();
    expect(() => channel.push(1)).toThrow(/closed channel/);
  });

  it('reports the high-water mark from push and makes send wait for space', async () => {
    const channel = createChannel<number>({ highWaterMark: 2 });
    expect(channel.push(1)).toBe(true);
    expect(channel.push(2)).toBe(false);
    let sent = false;
    const sending = channel.send(3).then(() => (sent = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toBe(false);
    expect(channel.size).toBe(2);
    const iterator = channel[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toBe(1);
    await sending;
    expect(sent).toBe(true);
    expect(channel.size).toBe(2);
  });

  it('keeps a bounded queue with several producers awaiting space', async () => {
    const channel = createChannel<number>({ highWaterMark: 1 });
    const producers = [1, 2, 3, 4].map((n) => channel.send(n));
    const iterator = channel[Symbol.asyncIterator]();
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(channel.size).toBeLessThanOrEqual(1);
      const r = await iterator.next();
      got.push(r.value as number);
      await new Promise((r2) => setTimeout(r2, 1));
    }
    await Promise.all(producers);
    expect(got.sort()).toEqual([1, 2, 3, 4]);
  });

  it('rejects a waiting send when its signal aborts', async () => {
    const channel = createChannel<number>({ highWaterMark: 1 });
    channel.push(1);
    const controller = new AbortController();
    const sending = channel.send(2, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sending).rejects.toThrow('stop');
    expect(channel.size).toBe(1);
  });

  it('detaches when the consumer breaks out: pending reads end, sends reject, pushes drop', async () => {
    const channel = createChannel<number>({ highWaterMark: 1 });
    channel.push(1);
    channel.push(2);
    const blocked = channel.send(3);
    for await (const value of channel) {
      expect(value).toBe(1);
      break;
    }
    expect(channel.detached).toBe(true);
    await expect(blocked).rejects.toThrow(/gone away/);
    expect(channel.push(4)).toBe(false);
    expect(channel.size).toBe(0);
  });

  it('ends a pending read when the consumer returns', async () => {
    const channel = createChannel<number>();
    const iterator = channel[Symbol.asyncIterator]();
    const pending = iterator.next();
    await iterator.return?.();
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('allows one consumer only', () => {
    const channel = createChannel<number>();
    channel[Symbol.asyncIterator]();
    expect(() => channel[Symbol.asyncIterator]()).toThrow(/single consumer/);
  });

  it('validates the high-water mark', () => {
    expect(() => createChannel({ highWaterMark: 0 })).toThrow(RangeError);
  });
});
