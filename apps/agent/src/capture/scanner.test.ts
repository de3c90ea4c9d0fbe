import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorCodeOf } from '@haven/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanTree } from './scanner.js';
import type { DirOutcome, ScanEntry } from './scanner.js';
import { firstLine, spawnTsChild, waitExit } from './test-support/ts-child.js';

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'haven-scan-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'not yours');
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

async function collect(
  opts: Partial<Parameters<typeof scanTree>[1]> = {},
): Promise<{ entries: ScanEntry[]; done: [string, DirOutcome][]; counts: Awaited<ReturnType<typeof scanTree>> }> {
  const entries: ScanEntry[] = [];
  const done: [string, DirOutcome][] = [];
  const counts = await scanTree(root, {
    onEntry: (e) => {
      entries.push(e);
    },
    onDirectoryDone: (d, o) => {
      done.push([d, o]);
    },
    ...opts,
  });
  return { entries, done, counts };
}

describe('scanTree', () => {
  it('reports files, directories (empty ones too) and symlinks with exact lstat metadata', async () => {
    mkdirSync(join(root, 'a/b'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'a/b/f.txt'), 'hello');
    writeFileSync(join(root, 'top'), '');
    symlinkSync('../outside', join(root, 'link-out'));
    symlinkSync(outside, join(root, 'a/abs-link'));
    const { entries, counts } = await collect();

    expect(entries.map((e) => `${e.meta.type}:${e.path}`).sort()).toEqual([
      'dir:a',
      'dir:a/b',
      'dir:empty',
      'file:a/b/f.txt',
      'file:top',
      'symlink:a/abs-link',
      'symlink:link-out',
    ]);
    const f = entries.find((e) => e.path === 'a/b/f.txt');
    const st = lstatSync(join(root, 'a/b/f.txt'), { bigint: true });
    expect(f?.meta).toMatchObject({ size: 5n, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, mode: 0o644 });
    expect(f).toMatchObject({ dir: 'a/b', name: 'f.txt' });
    expect(entries.find((e) => e.path === 'link-out')?.meta.symlinkTarget).toBe('../outside');
    // Symlinks are entries, never followed: nothing of `outside` shows up.
    expect(entries.some((e) => e.path.includes('secret'))).toBe(false);
    expect(counts).toMatchObject({ entries: 7, files: 2, dirs: 3, symlinks: 2, vanished: 0, errors: 0 });
  });

  it('delivers each directory together, sorted, followed by its completion', async () => {
    for (const d of ['x', 'x/y', 'z']) mkdirSync(join(root, d), { recursive: true });
    for (const f of ['x/2', 'x/1', 'x/y/3', 'z/4', '0']) writeFileSync(join(root, f), '');
    const events: string[] = [];
    await scanTree(root, {
      onEntry: (e) => {
        events.push(e.path);
      },
      onDirectoryDone: (d) => {
        events.push(`done:${d}`);
      },
    });
    expect(events).toEqual([
      ...['0', 'x', 'z', 'done:'],
      ...['x/1', 'x/2', 'x/y', 'done:x'],
      ...['x/y/3', 'done:x/y'],
      ...['z/4', 'done:z'],
    ]);
  });

  it('skips sockets and FIFOs with a counted reason', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    try {
      writeFileSync(join(root, 'plain'), 'x');
      const { entries, counts } = await collect();
      expect(entries.map((e) => e.path)).toEqual(['plain']);
      expect(counts.skipped).toMatchObject({ fifo: 1, socket: 1 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('skips names that are not valid UTF-8 instead of reporting them as vanished', async () => {
    writeFileSync(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    writeFileSync(join(root, 'good'), 'x');
    const { entries, counts } = await collect();
    expect(entries.map((e) => e.path)).toEqual(['good']);
    expect(counts.skipped['invalid-name']).toBe(1);
    expect(counts.vanished).toBe(0);
  });

  it('applies the exclude predicate with the entry type and does not descend excluded dirs', async () => {
    mkdirSync(join(root, 'node_modules/pkg'), { recursive: true });
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'node_modules/pkg/index.js'), '');
    writeFileSync(join(root, 'src/node_modules'), 'a file with that name is kept');
    writeFileSync(join(root, 'src/x.tmp'), '');
    const asked: string[] = [];
    const { entries, counts } = await collect({
      exclude: (p, isDir) => {
        asked.push(p);
        return (isDir && p.endsWith('node_modules')) || p.endsWith('.tmp');
      },
    });
    expect(entries.map((e) => e.path).sort()).toEqual(['src', 'src/node_modules']);
    expect(counts.excluded).toBe(2);
    expect(asked).not.toContain('node_modules/pkg');
  });

  it('walks only below `start` when asked', async () => {
    mkdirSync(join(root, 'a/b'), { recursive: true });
    writeFileSync(join(root, 'a/b/f'), '');
    writeFileSync(join(root, 'other'), '');
    const { entries } = await collect({ start: 'a' });
    expect(entries.map((e) => e.path)).toEqual(['a/b', 'a/b/f']);
  });

  it('survives entries and directories vanishing mid-scan', async () => {
    mkdirSync(join(root, 'a'));
    mkdirSync(join(root, 'z/deep'), { recursive: true });
    writeFileSync(join(root, 'z/deep/f'), '');
    const seen: string[] = [];
    const { done, counts } = await collect({
      onEntry: (e) => {
        seen.push(e.path);
        // 'z' was already listed in the root; delete it before it is walked.
        if (e.path === 'a') rmSync(join(root, 'z'), { recursive: true });
      },
    });
    expect(seen).toEqual(['a', 'z']);
    expect(done).toContainEqual(['z', 'vanished']);
    expect(counts.vanished).toBe(1);
  });

  it('never lists a directory that was swapped for a symlink to outside the root mid-scan', async () => {
    mkdirSync(join(root, 'a'));
    mkdirSync(join(root, 'b/c'), { recursive: true });
    writeFileSync(join(root, 'b/c/mine'), '');
    mkdirSync(join(outside, 'c'));
    writeFileSync(join(outside, 'c/theirs'), '');
    const seen: string[] = [];
    const { done, counts } = await collect({
      onEntry: (e) => {
        seen.push(e.path);
        // When b's child c is reported, replace b with a symlink to a tree that has a c.
        if (e.path === 'b/c') {
          renameSync(join(root, 'b'), join(base, 'b-moved'));
          symlinkSync(outside, join(root, 'b'));
        }
      },
    });
    expect(seen).toEqual(['a', 'b', 'b/c']);
    expect(seen.some((p) => p.includes('theirs') || p.includes('secret'))).toBe(false);
    expect(done).toContainEqual(['b/c', 'moved']);
    expect(counts.moved).toBe(1);
  });

  it('refuses a root that is missing or not a directory', async () => {
    await expect(scanTree(join(base, 'nope'), { onEntry: () => {} })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    writeFileSync(join(base, 'file'), '');
    await expect(scanTree(join(base, 'file'), { onEntry: () => {} })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    try {
      await scanTree('relative/root', { onEntry: () => {} });
      expect.unreachable();
    } catch (err) {
      expect(errorCodeOf(err)).toBe('INVALID_ARGUMENT');
    }
  });

  it('counts permission errors without failing the scan', async () => {
    mkdirSync(join(root, 'open'));
    mkdirSync(join(root, 'locked/inner'), { recursive: true });
    writeFileSync(join(root, 'open/f'), '');
    writeFileSync(join(root, 'locked/inner/f'), '');
    chmodSync(join(root, 'locked'), 0o000);
    const scannerUrl = pathToFileURL(join(import.meta.dirname, 'scanner.ts')).href;
    const script = `import { scanTree } from ${JSON.stringify(scannerUrl)};
const seen = []; const done = [];
const counts = await scanTree(process.argv[2], {
  onEntry: (e) => { seen.push(e.path); },
  onDirectoryDone: (d, o) => { done.push([d, o]); },
});
console.log(JSON.stringify({ seen, done, denied: counts.denied }));
`;
    // Root bypasses permission checks: scan as an unprivileged user when we are root.
    chmodSync(base, 0o755);
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = spawnTsChild(base, script, [root], asUser);
    const out = JSON.parse(await firstLine(child)) as { seen: string[]; done: [string, string][]; denied: number };
    await waitExit(child);
    chmodSync(join(root, 'locked'), 0o755);
    expect(out.seen).toEqual(['locked', 'open', 'open/f']);
    expect(out.done).toContainEqual(['locked', 'denied']);
    expect(out.denied).toBe(1);
  });
});
