import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HavenError } from '@haven/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExcludePredicate } from './entry-meta.js';
import { firstLine, spawnTsChild, waitExit } from './test-support/ts-child.js';
import { createWatcher } from './watcher.js';
import type { Watcher } from './watcher.js';

let base: string;
let root: string;
let watcher: Watcher | undefined;
let batches: string[][];
let errors: HavenError[];
let waiters: (() => void)[];

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'haven-watch-'));
  root = join(base, 'root');
  mkdirSync(root);
  batches = [];
  errors = [];
  waiters = [];
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  rmSync(base, { recursive: true, force: true });
});

async function start(exclude?: ExcludePredicate, debounceMs = 50): Promise<void> {
  watcher = await createWatcher({
    root,
    debounceMs,
    ...(exclude ? { exclude } : {}),
    onPaths: (paths) => {
      batches.push(paths);
      for (const w of waiters.splice(0)) w();
    },
    onError: (err) => errors.push(err),
  });
}

const seenSince = (mark: number): Set<string> => new Set(batches.slice(mark).flat());

/** Runs `op` and resolves with how long it took until every path in `expected` was reported. */
async function reported(op: () => void, expected: string[], timeoutMs = 1500): Promise<number> {
  const mark = batches.length;
  const t0 = performance.now();
  op();
  const deadline = t0 + timeoutMs;
  for (;;) {
    const seen = seenSince(mark);
    if (expected.every((p) => seen.has(p))) return performance.now() - t0;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Error(`not reported within ${timeoutMs} ms: ${expected.filter((p) => !seen.has(p)).join(', ')}`);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

describe('createWatcher', () => {
  it('reports the paths touched by every kind of file operation within a few hundred ms', async () => {
    mkdirSync(join(root, 'd1/inner'), { recursive: true });
    writeFileSync(join(root, 'd1/inner/f'), 'x');
    await start();
    const latency: Record<string, number> = {};
    const f = join(root, 'a.txt');

    latency.create = await reported(() => writeFileSync(f, 'one'), ['a.txt']);
    latency.dotDot = await reported(() => writeFileSync(join(root, '..not-a-parent'), 'x'), ['..not-a-parent']);
    latency.modify = await reported(() => appendFileSync(f, 'two'), ['a.txt']);
    latency.chmod = await reported(() => chmodSync(f, 0o600), ['a.txt']);
    latency.mkdirEmpty = await reported(() => mkdirSync(join(root, 'empty')), ['empty']);
    latency.renameFile = await reported(() => renameSync(f, join(root, 'b.txt')), ['a.txt', 'b.txt']);
    latency.renameDir = await reported(
      () => renameSync(join(root, 'd1'), join(root, 'd2')),
      ['d1', 'd2', 'd2/inner', 'd2/inner/f'],
    );
    latency.symlink = await reported(() => symlinkSync('b.txt', join(root, 'ln')), ['ln']);
    latency.nested = await reported(() => {
      mkdirSync(join(root, 'empty/sub'));
      writeFileSync(join(root, 'empty/sub/x'), 'x');
    }, ['empty', 'empty/sub', 'empty/sub/x']);
    latency.delete = await reported(() => unlinkSync(join(root, 'b.txt')), ['b.txt']);
    latency.deleteDir = await reported(() => rmSync(join(root, 'd2'), { recursive: true }), ['d2']);

    console.info(`watch latency ms: ${Object.entries(latency).map(([op, ms]) => `${op} ${ms.toFixed(0)}`).join(', ')}`);
    for (const [op, ms] of Object.entries(latency)) expect(ms, op).toBeLessThan(1000);
    expect(errors).toEqual([]);
    expect(watcher?.degraded).toBe(false);
    // Each delivery is deduplicated and sorted.
    for (const b of batches) expect(b).toEqual([...new Set(b)].sort());
  });

  it('coalesces a burst into few deliveries without losing a path', async () => {
    await start(undefined, 100);
    const names = Array.from({ length: 300 }, (_, i) => `burst-${i}`);
    await reported(() => {
      for (const n of names) writeFileSync(join(root, n), n);
    }, names);
    expect(batches.length).toBeLessThan(10);
  });

  it('does not report excluded paths', async () => {
    mkdirSync(join(root, 'cache'));
    await start((p, isDir) => (isDir && p === 'cache') || p.endsWith('.tmp'));
    await reported(() => {
      writeFileSync(join(root, 'cache/x'), 'x');
      writeFileSync(join(root, 'y.tmp'), 'x');
      writeFileSync(join(root, 'z'), 'x');
    }, ['z']);
    await new Promise((r) => setTimeout(r, 200));
    const all = seenSince(0);
    expect(all.has('z')).toBe(true);
    expect([...all].filter((p) => p.startsWith('cache') || p.endsWith('.tmp'))).toEqual([]);
  });

  it('delivers what it collected on close and nothing after', async () => {
    await start(undefined, 10_000);
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(root, 'late'), 'x');
    await new Promise((r) => setTimeout(r, 150)); // events in, debounce far from over
    await watcher?.close();
    watcher = undefined;
    expect(seenSince(0).has('late')).toBe(true);
    const n = batches.length;
    writeFileSync(join(root, 'after-close'), 'x');
    await new Promise((r) => setTimeout(r, 200));
    expect(batches.length).toBe(n);
  });

  it('refuses a missing root', async () => {
    const missing = createWatcher({ root: join(base, 'nope'), onPaths: () => {}, onError: () => {} });
    await expect(missing).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reports a full inotify watch table through onError and marks itself degraded', async () => {
    // A user namespace gets its own inotify watch limit; 20 watches for 60 entries.
    for (let d = 0; d < 3; d++) {
      mkdirSync(join(root, `d${d}`));
      for (let f = 0; f < 20; f++) writeFileSync(join(root, `d${d}/f${f}`), 'x');
    }
    const LIMIT = '/proc/sys/user/max_inotify_watches';
    const watcherUrl = pathToFileURL(join(import.meta.dirname, 'watcher.ts')).href;
    const child = spawnTsChild(
      base,
      `import { createWatcher } from ${JSON.stringify(watcherUrl)};
const errors = [];
const w = await createWatcher({ root: process.argv[2], onPaths: () => {}, onError: (e) => errors.push(e) });
await new Promise((r) => setTimeout(r, 300));
const report = errors.map((e) => ({ code: e.code, message: e.message, details: e.details }));
console.log(JSON.stringify({ degraded: w.degraded, errors: report }));
await w.close();
`,
      [root],
      { via: ['unshare', '--user', '--map-root-user', 'sh', '-c', `echo 20 > ${LIMIT} && exec "$@"`, 'sh'] },
    );
    const out = JSON.parse(await firstLine(child)) as {
      degraded: boolean;
      errors: { code: string; message: string; details: Record<string, string> }[];
    };
    await waitExit(child);
    expect(out.degraded).toBe(true);
    expect(out.errors.length).toBeGreaterThanOrEqual(1);
    // Dozens of failed watches, coalesced into a handful of reports.
    expect(out.errors.length).toBeLessThan(5);
    expect(out.errors[0]).toMatchObject({ code: 'UNAVAILABLE', details: { errno: 'ENOSPC' } });
    expect(out.errors[0]?.message).toMatch(/inotify watch limit/);
    expect(Number(out.errors[0]?.details.count)).toBeGreaterThan(1);
  });
});
