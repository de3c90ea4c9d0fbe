import { setTimeout as sleep } from 'node:timers/promises';
import type { HavenError } from '@haven/core';
import { describe, expect, it } from 'vitest';
import { createPathCoalescer, watchError } from './path-coalescer.js';

function setup(debounceMs: number, maxDelayMs: number) {
  const batches: { at: number; paths: string[] }[] = [];
  const errors: HavenError[] = [];
  const t0 = performance.now();
  const c = createPathCoalescer({
    debounceMs,
    maxDelayMs,
    onPaths: (paths) => batches.push({ at: performance.now() - t0, paths }),
    onError: (err) => errors.push(err),
  });
  return { c, batches, errors };
}

describe('createPathCoalescer', () => {
  it('delivers a burst once, deduplicated and sorted, after the quiet time', async () => {
    const { c, batches } = setup(30, 1000);
    for (const p of ['b', 'a', 'b', 'c/d', 'a']) c.add(p);
    await sleep(10);
    expect(batches).toEqual([]);
    await sleep(60);
    expect(batches.map((b) => b.paths)).toEqual([['a', 'b', 'c/d']]);
  });

  it('delivers within maxDelayMs even when events never pause', async () => {
    const { c, batches } = setup(40, 120);
    const end = performance.now() + 500;
    let i = 0;
    while (performance.now() < end) {
      c.add(`p${i++ % 5}`);
      await sleep(10);
    }
    // Without the bound, nothing would arrive before the burst ends (500 ms).
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches[0]?.at).toBeLessThan(400);
    c.close();
  });

  it('coalesces errors to one report per window with their count', async () => {
    const { c, errors } = setup(20, 1000);
    for (let i = 0; i < 50; i++) c.error(Object.assign(new Error('watch failed'), { code: 'ENOSPC' }));
    await sleep(60);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'UNAVAILABLE', details: { errno: 'ENOSPC', count: '50' } });
  });

  it('turns a failing consumer into an error instead of throwing from a timer', async () => {
    const errors: HavenError[] = [];
    const c = createPathCoalescer({
      debounceMs: 5,
      maxDelayMs: 100,
      onPaths: () => {
        throw new Error('queue full');
      },
      onError: (e) => errors.push(e),
    });
    c.add('x');
    await sleep(30);
    expect(errors.map((e) => e.code)).toEqual(['INTERNAL']);
  });

  it('flushes on close and ignores input afterwards', async () => {
    const { c, batches } = setup(10_000, 20_000);
    c.add('kept');
    c.close();
    c.add('dropped');
    await sleep(20);
    expect(batches.map((b) => b.paths)).toEqual([['kept']]);
  });

  it('validates its timing options', () => {
    const noop = (): void => {};
    expect(() => createPathCoalescer({ debounceMs: -1, maxDelayMs: 10, onPaths: noop, onError: noop })).toThrow(
      /debounceMs/,
    );
    expect(() => createPathCoalescer({ debounceMs: 50, maxDelayMs: 10, onPaths: noop, onError: noop })).toThrow(
      /maxDelayMs/,
    );
  });

  it('names the watch-limit and descriptor failures plainly', () => {
    expect(watchError(Object.assign(new Error('x'), { code: 'EMFILE' }), 1).message).toMatch(/file descriptors/);
    expect(watchError(new Error('boom'), 1).message).toBe('file watcher failed: boom');
  });
});
