import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
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
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** inotify watches this process holds (one `inotify wd:` line per watch in fdinfo). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

async function until(what: string, cond: () => boolean, timeoutMs = 1500): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

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
    latency.inMovedDir = await reported(() => writeFileSync(join(root, 'd2/inner/g'), 'x'), ['d2/inner/g']);
    latency.symlink = await reported(() => symlinkSync('b.txt', join(root, 'ln')), ['ln']);
    // A file created in a new directory before any watch can be on it: the directory itself
    // is reported (the consumer reconciles a directory it did not know) and so is the file.
    latency.nested = await reported(() => {
      mkdirSync(join(root, 'empty/sub'));
      writeFileSync(join(root, 'empty/sub/x'), 'x');
    }, ['empty', 'empty/sub', 'empty/sub/x']);
    latency.nestedLater = await reported(() => writeFileSync(join(root, 'empty/sub/y'), 'y'), ['empty/sub/y']);
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

  it('watches a tree created or moved in after start, at every depth', async () => {
    mkdirSync(join(base, 'outside/m1/m2'), { recursive: true });
    writeFileSync(join(base, 'outside/m1/m2/old'), 'x');
    await start();
    // Created in one go, faster than any watch can be added on the way down.
    await reported(() => {
      mkdirSync(join(root, 't/a/b/c'), { recursive: true });
      writeFileSync(join(root, 't/a/b/c/deep'), 'x');
      writeFileSync(join(root, 't/top'), 'x');
    }, ['t', 't/a', 't/a/b', 't/a/b/c', 't/a/b/c/deep', 't/top']);
    await reported(() => renameSync(join(base, 'outside/m1'), join(root, 't/a/m1')), ['t/a', 't/a/m1', 't/a/m1/m2', 't/a/m1/m2/old']);
    // Every new directory is watched now.
    await reported(() => {
      writeFileSync(join(root, 't/a/b/c/later'), 'x');
      writeFileSync(join(root, 't/a/m1/m2/later'), 'x');
      mkdirSync(join(root, 't/a/b/c/d'));
    }, ['t/a/b/c/later', 't/a/m1/m2/later', 't/a/b/c/d']);
    await reported(() => writeFileSync(join(root, 't/a/b/c/d/last'), 'x'), ['t/a/b/c/d/last']);
    expect(errors).toEqual([]);
  });

  it('follows a directory replaced under the same name, and drops one moved away', async () => {
    mkdirSync(join(root, 'r'));
    mkdirSync(join(root, 'gone/sub'), { recursive: true });
    await start();
    await reported(() => {
      rmSync(join(root, 'r'), { recursive: true });
      mkdirSync(join(root, 'r'));
    }, ['r']);
    // The new 'r' is another inode: without a watch of its own this would go unseen.
    await reported(() => writeFileSync(join(root, 'r/in-new'), 'x'), ['r/in-new']);

    await reported(() => renameSync(join(root, 'gone'), join(base, 'away')), ['gone']);
    const mark = batches.length;
    writeFileSync(join(base, 'away/sub/x'), 'x');
    await reported(() => writeFileSync(join(root, 'marker'), 'x'), ['marker']);
    await sleep(100);
    expect([...seenSince(mark)].filter((p) => p.startsWith('gone') || p.startsWith('away'))).toEqual([]);
  });

  it('puts inotify watches on directories only, never on excluded ones, and releases them', async () => {
    for (const d of ['a', 'b', 'b/c', 'cache', 'cache/deep']) mkdirSync(join(root, d));
    for (let i = 0; i < 50; i++) {
      writeFileSync(join(root, `a/f${i}`), 'x');
      writeFileSync(join(root, `cache/f${i}`), 'x');
    }
    symlinkSync('a', join(root, 'link-to-dir'));
    const before = inotifyWatches();
    await start((p, isDir) => isDir && p === 'cache');
    // The root, a, b and b/c: no file, no symlink, nothing under the excluded directory.
    expect(inotifyWatches() - before).toBe(4);
    mkdirSync(join(root, 'b/c/new'));
    await until('a watch on the new directory', () => inotifyWatches() - before === 5);
    rmSync(join(root, 'b'), { recursive: true });
    await until('the watches of the removed directories to go', () => inotifyWatches() - before === 2);
    await watcher?.close();
    watcher = undefined;
    expect(inotifyWatches()).toBe(before);
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
    // A user namespace gets its own inotify watch limit: 20 watches for 64 directories
    // (files take none).
    for (let d = 0; d < 3; d++) {
      for (let s = 0; s < 20; s++) mkdirSync(join(root, `d${d}/s${s}`), { recursive: true });
      writeFileSync(join(root, `d${d}/f`), 'x');
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
