import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExcludePredicate } from './entry-meta.js';
import { reconcile } from './reconcile.js';
import type { ChangeKind, ReconcileResult } from './reconcile.js';
import { scanTree } from './scanner.js';
import { createStateDb } from './state-db.js';
import type { KnownUpsert, StateDb } from './state-db.js';
import { firstLine, spawnTsChild, waitExit } from './test-support/ts-child.js';

let base: string;
let root: string;
let db: StateDb;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'haven-reconcile-'));
  root = join(base, 'root');
  mkdirSync(root);
  db = createStateDb({ path: join(base, 'state.db') });
});

afterEach(() => {
  db.close();
  rmSync(base, { recursive: true, force: true });
});

/** What a commit ack does: record the tree's current state as known, empty the queue. */
async function commitTree(exclude?: ExcludePredicate): Promise<void> {
  let batch: KnownUpsert[] = [];
  await scanTree(root, {
    ...(exclude ? { exclude } : {}),
    onEntry: (e) => {
      batch.push({ path: e.path, meta: e.meta, contentRoot: null });
      if (batch.length >= 5000) {
        db.upsertKnown('s1', 1, batch);
        batch = [];
      }
    },
  });
  db.upsertKnown('s1', 1, batch);
  db.completePending('s1', db.nextPending('s1', 1_000_000));
}

async function changes(
  exclude?: ExcludePredicate,
  under?: string,
): Promise<{ result: ReconcileResult; found: Record<ChangeKind, string[]> }> {
  const found: Record<ChangeKind, string[]> = { new: [], modified: [], deleted: [] };
  const result = await reconcile('s1', root, db, exclude, {
    ...(under !== undefined ? { under } : {}),
    onChange: (p, kind) => found[kind].push(p),
  });
  for (const k of ['new', 'modified', 'deleted'] as const) found[k].sort();
  return { result, found };
}

function write(rel: string, data = 'x'): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), data);
}

describe('reconcile', () => {
  it('queues every entry of a new tree, then nothing once it is committed', async () => {
    write('a/b/f1');
    write('a/f2');
    mkdirSync(join(root, 'empty'));
    const first = await changes();
    expect(first.found.new).toEqual(['a', 'a/b', 'a/b/f1', 'a/f2', 'empty']);
    expect(first.result).toMatchObject({ scanned: 5, new: 5, enqueued: 5, scanGeneration: 1 });
    expect(
      db
        .nextPending('s1', 10)
        .map((p) => [p.path, p.reason])
        .sort(),
    ).toEqual([
      ['a', 'new'],
      ['a/b', 'new'],
      ['a/b/f1', 'new'],
      ['a/f2', 'new'],
      ['empty', 'new'],
    ]);

    await commitTree();
    const second = await changes();
    expect(second.result).toMatchObject({ scanned: 5, new: 0, modified: 0, deleted: 0, unchanged: 5, enqueued: 0 });
    expect(db.pendingStats('s1').count).toBe(0);
  });

  it('finds every kind of metadata change', async () => {
    write('content', 'aaaa');
    write('mode');
    write('times');
    write('gone');
    write('dir-to-file/child');
    write('file-to-dir');
    write('old/x/deep');
    write('keep/same');
    symlinkSync('target-1', join(root, 'link'));
    await commitTree();

    writeFileSync(join(root, 'content'), 'bbbb'); // same size, new bytes
    chmodSync(join(root, 'mode'), 0o600);
    const t = statSync(join(root, 'times'));
    utimesSync(join(root, 'times'), t.atime, t.mtime); // same mtime, but ctime moves
    unlinkSync(join(root, 'gone'));
    rmSync(join(root, 'dir-to-file'), { recursive: true });
    writeFileSync(join(root, 'dir-to-file'), '');
    unlinkSync(join(root, 'file-to-dir'));
    mkdirSync(join(root, 'file-to-dir'));
    renameSync(join(root, 'old'), join(root, 'new'));
    unlinkSync(join(root, 'link'));
    symlinkSync('target-2', join(root, 'link'));
    mkdirSync(join(root, 'fresh-empty'));

    const { found, result } = await changes();
    expect(found.new).toEqual(['fresh-empty', 'new', 'new/x', 'new/x/deep']);
    // The root's own mtime is not an entry; the parent dirs of changes are seen by their mtime.
    expect(found.modified).toEqual(['content', 'dir-to-file', 'file-to-dir', 'link', 'mode', 'times']);
    expect(found.deleted).toEqual(['dir-to-file/child', 'gone', 'old', 'old/x', 'old/x/deep']);
    expect(result.unchanged).toBe(2); // keep, keep/same
  });

  it('treats newly excluded entries as leaving the set', async () => {
    write('build/out/a.o');
    write('src/main.c');
    await commitTree();
    const { found } = await changes((p, isDir) => isDir && p === 'build');
    expect(found.deleted).toEqual(['build', 'build/out', 'build/out/a.o']);
    expect(found.new).toEqual([]);
  });

  it('reconciles just one subtree', async () => {
    write('a/one');
    write('b/two');
    await commitTree();
    write('a/new');
    write('b/also-new');
    const sub = await changes(undefined, 'a');
    expect(sub.found.new).toEqual(['a/new']);
    expect(sub.found.modified).toEqual(['a']); // its mtime moved
    expect(sub.result.scanGeneration).toBeNull();

    rmSync(join(root, 'a'), { recursive: true });
    const gone = await changes(undefined, 'a');
    expect(gone.found.deleted).toEqual(['a', 'a/one']);
  });

  it('keeps what it cannot read: children of a locked directory are not reported deleted', async () => {
    write('open/f');
    write('locked/inner/f');
    write('locked/g');
    await commitTree();
    db.close();
    chmodSync(join(root, 'locked'), 0o000);
    // Root reads everything: reconcile as an unprivileged user, who can write the state DB.
    chmodSync(base, 0o777);
    chmodSync(join(base, 'state.db'), 0o666);
    const url = pathToFileURL(join(import.meta.dirname, 'reconcile.ts')).href;
    const stateUrl = pathToFileURL(join(import.meta.dirname, 'state-db.ts')).href;
    const child = spawnTsChild(
      base,
      `import { reconcile } from ${JSON.stringify(url)};
import { createStateDb } from ${JSON.stringify(stateUrl)};
const db = createStateDb({ path: process.argv[3] });
const changes = [];
const r = await reconcile('s1', process.argv[2], db, undefined, { onChange: (p, k) => changes.push(k + ':' + p) });
db.close();
console.log(JSON.stringify({ changes, denied: r.scan.denied }));
`,
      [root, join(base, 'state.db')],
      process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {},
    );
    const out = JSON.parse(await firstLine(child)) as { changes: string[]; denied: number };
    await waitExit(child);
    chmodSync(join(root, 'locked'), 0o755);
    db = createStateDb({ path: join(base, 'state.db') });
    expect(out.denied).toBe(1);
    expect(out.changes).toEqual(['modified:locked']); // its mode changed; its children are kept
    expect(db.countKnown('s1')).toBe(6);
  });

  it('reads no file contents: 64 GiB of sparse files reconcile with almost no bytes read', async () => {
    const files = 64;
    for (let i = 0; i < files; i++) {
      writeFileSync(join(root, `sparse-${i}`), '');
      truncateSync(join(root, `sparse-${i}`), 1024 ** 3);
    }
    const rchar = (): number => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
    const before = rchar();
    const first = await changes();
    await commitTree();
    const second = await changes();
    const read = rchar() - before;
    expect(first.result.new).toBe(files);
    expect(second.result.unchanged).toBe(files);
    // Two reconciles and a commit over 64 GiB of (zero) contents read under 16 MiB: the
    // state DB's pages and directory listings, never a file.
    expect(read).toBeLessThan(16 * 1024 ** 2);
  });
});
