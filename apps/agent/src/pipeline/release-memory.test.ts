import { describe, expect, it } from 'vitest';
import { releaseMemory } from './release-memory.js';

describe('releaseMemory', () => {
  it('collects garbage the heap is still holding', () => {
    expect(releaseMemory()).toBe(true);
    const base = process.memoryUsage().heapUsed;
    let garbage: Array<{ n: number; s: string }> | undefined = Array.from({ length: 400_000 }, (_, n) => ({ n, s: `entry ${n}` }));
    expect(garbage.length).toBe(400_000);
    const held = process.memoryUsage().heapUsed;
    expect(held - base).toBeGreaterThan(16 * 1024 * 1024);
    garbage = undefined;
    expect(releaseMemory()).toBe(true);
    expect(process.memoryUsage().heapUsed - base).toBeLessThan((held - base) / 4);
  });
});
