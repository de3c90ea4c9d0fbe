import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { createManualClock, errorCodeOf } from '@haven/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntryMeta } from './entry-meta.js';
import { createStateDb } from './state-db.js';
import type { StateDb } from './state-db.js';
import { firstLine, spawnTsChild, waitExit } from './test-support/ts-child.js';

const fileMeta = (over: Partial<EntryMeta> = {}): EntryMeta => ({
  type: 'file',
  size: 10n,
  mtimeNs: 1_700_000_000_123_456_789n,
  ctimeNs: 1_700_000_000_987_654_321n,
  ino: 42n,
  dev: 2049n,
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  symlinkTarget: null,
  ...over,
});

let dir: string;
let dbPath: string;
const open: StateDb[] = [];
const clock = createManualClock(1_000);

function openDb(): StateDb {
  const db = createStateDb({ path: dbPath, clock });
  open.push(db);
  return db;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-state-db-'));
  dbPath = join(dir, 'state.db');
  clock.set(1_000);
});

afterEach(() => {
  for (const db of open.splice(0)) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('state DB schema', () => {
  it('creates the schema once and keeps data across reopen', () => {
    const db = openDb();
    db.upsertKnown('s1', 3, [{ path: 'a.txt', meta: fileMeta(), contentRoot: 'ab'.repeat(32) }]);
    db.close();
    const again = openDb();
    expect(again.getKnown('s1', 'a.txt')?.contentRoot).toBe('ab'.repeat(32));
  });

  it('refuses a state DB written by a newer schema', () => {
    const raw = new Database(dbPath);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => openDb()).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/schema version 99/) }),
    );
  });
});

describe('known entries', () => {
  it('round-trips exact metadata, including 64-bit inode and nanosecond times', () => {
    const db = openDb();
    const meta = fileMeta({ ino: 2n ** 64n - 5n, dev: 2n ** 63n + 7n, size: 2n ** 40n });
    const link = fileMeta({ type: 'symlink', symlinkTarget: '../x', size: 4n });
    db.upsertKnown('s1', 7, [
      { path: 'dir/f', meta, contentRoot: 'cd'.repeat(32) },
      { path: 'dir/l', meta: link, contentRoot: null },
    ]);
    const got = db.getKnown('s1', 'dir/f');
    expect(got).toEqual({ path: 'dir/f', meta, contentRoot: 'cd'.repeat(32), committedSeq: 7 });
    expect(db.getKnown('s1', 'dir/l')?.meta.symlinkTarget).toBe('../x');
    expect(db.getKnown('s1', 'missing')).toBeUndefined();
    expect(db.getKnown('other-set', 'dir/f')).toBeUndefined();
  });

  it('lists children and subtrees without picking up siblings that share a prefix', () => {
    const db = openDb();
    const paths = ['a', 'a.d', 'a.d/y', 'a.txt', 'a/b', 'a/b/c', 'a/b/c/d', 'a0', 'a0/x', 'ab', 'ab/c', 'b'];
    db.upsertKnown(
      's1',
      1,
      paths.map((p) => ({ path: p, meta: fileMeta(), contentRoot: null })),
    );
    expect(db.listKnownUnder('s1', 'a')).toEqual(['a/b', 'a/b/c', 'a/b/c/d']);
    expect(db.listKnownUnder('s1', 'a/b')).toEqual(['a/b/c', 'a/b/c/d']);
    expect(db.listKnownUnder('s1', '').length).toBe(paths.length);
    expect([...db.knownChildren('s1', '').keys()].sort()).toEqual(['a', 'a.d', 'a.txt', 'a0', 'ab', 'b']);
    expect([...db.knownChildren('s1', 'a/b').entries()]).toEqual([['c', fileMeta()]]);
    expect(db.countKnown('s1')).toBe(paths.length);

    expect(db.deleteKnown('s1', ['a'])).toBe(4);
    expect(db.listKnownUnder('s1', '')).toEqual(['a.d', 'a.txt', 'a0', 'ab', 'b', 'a.d/y', 'a0/x', 'ab/c']);
  });

  it('rejects malformed paths with INVALID_ARGUMENT', () => {
    const db = openDb();
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
        return undefined;
      } catch (err) {
        return errorCodeOf(err);
      }
    };
    for (const bad of ['', '/abs', 'a//b', 'a/../b', './a', 'a/', 'nul\0']) {
      expect(codeOf(() => db.enqueue('s1', [bad], 'watch')), bad).toBe('INVALID_ARGUMENT');
      expect(codeOf(() => db.getKnown('s1', bad)), bad).toBe('INVALID_ARGUMENT');
    }
    expect(codeOf(() => db.listKnownUnder('s1', 'a/'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => db.nextPending('', 1))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => db.nextPending('s1', -1))).toBe('INVALID_ARGUMENT');
  });
});

describe('pending queue', () => {
  it('deduplicates, hands out oldest first, and bounds the batch', () => {
    const db = openDb();
    expect(db.enqueue('s1', ['c', 'b'], 'watch')).toBe(2);
    clock.advance(10);
    expect(db.enqueue('s1', ['a', 'b'], 'new')).toBe(1);
    const batch = db.nextPending('s1', 2);
    expect(batch.map((p) => [p.path, p.firstSeenMs, p.reason])).toEqual([
      ['b', 1_000, 'watch'],
      ['c', 1_000, 'watch'],
    ]);
    expect(db.pendingStats('s1')).toEqual({ count: 3, oldestFirstSeenMs: 1_000, deferred: 0 });
  });

  it('keeps a path queued when it changed again while its read was in flight', () => {
    const db = openDb();
    db.enqueue('s1', ['f', 'g'], 'watch');
    const batch = db.nextPending('s1', 10);
    db.enqueue('s1', ['f'], 'watch'); // reported again during the read
    expect(db.completePending('s1', batch)).toBe(1);
    const left = db.nextPending('s1', 10);
    expect(left.map((p) => p.path)).toEqual(['f']);
    expect(db.completePending('s1', left)).toBe(1);
    expect(db.pendingStats('s1').count).toBe(0);
  });

  it('defers unstable paths until their retry time', () => {
    const db = openDb();
    db.enqueue('s1', ['hot', 'cold'], 'watch');
    db.deferPending('s1', ['hot'], 5_000);
    expect(db.nextPending('s1', 10).map((p) => p.path)).toEqual(['cold']);
    expect(db.pendingStats('s1')).toMatchObject({ count: 2, deferred: 1 });
    clock.set(5_000);
    const due = db.nextPending('s1', 10);
    expect(due.map((p) => [p.path, p.attempts])).toEqual([
      ['cold', 0],
      ['hot', 1],
    ]);
  });
});

describe('commits', () => {
  it('applies an acknowledged commit atomically', () => {
    const db = openDb();
    db.upsertKnown('s1', 1, [
      { path: 'old', meta: fileMeta({ type: 'dir' }), contentRoot: null },
      { path: 'old/x', meta: fileMeta(), contentRoot: 'aa'.repeat(32) },
    ]);
    db.enqueue('s1', ['new', 'old', 'old/x'], 'watch');
    db.saveUploadProgress('s1', 'new', fileMeta(), 100, [{ id: 'ee'.repeat(32), length: 100 }]);
    const tickets = db.nextPending('s1', 10);
    db.applyCommit('s1', {
      seq: 5,
      epoch: 2,
      upserts: [{ path: 'new', meta: fileMeta(), contentRoot: 'bb'.repeat(32) }],
      deletes: ['old'],
      completed: tickets,
    });
    expect(db.listKnownUnder('s1', '')).toEqual(['new']);
    expect(db.getKnown('s1', 'new')?.committedSeq).toBe(5);
    expect(db.pendingStats('s1').count).toBe(0);
    expect(db.loadUploadProgress('s1', 'new')).toBeUndefined();
    expect(db.getSetState('s1')).toMatchObject({ committedSeq: 5, epoch: 2 });

    // A replayed older ack never moves the committed seq back.
    db.applyCommit('s1', { seq: 4, epoch: 2, upserts: [], deletes: [], completed: [] });
    expect(db.getSetState('s1').committedSeq).toBe(5);
  });

  it('tracks scan generations and forgets a removed set', () => {
    const db = openDb();
    expect(db.getSetState('s1')).toEqual({ committedSeq: 0, epoch: 0, scanGeneration: 0, lastScanMs: null });
    expect(db.recordScan('s1', 1234)).toBe(1);
    expect(db.recordScan('s1', 5678)).toBe(2);
    expect(db.getSetState('s1')).toMatchObject({ scanGeneration: 2, lastScanMs: 5678 });
    db.enqueue('s1', ['x'], 'watch');
    db.removeSet('s1');
    expect(db.pendingStats('s1').count).toBe(0);
    expect(db.getSetState('s1').scanGeneration).toBe(0);
  });
});

describe('upload progress', () => {
  it('appends acknowledged chunks and resets when the file changed', () => {
    const db = openDb();
    const id = fileMeta();
    db.saveUploadProgress('s1', 'big', id, 100, [{ id: '01'.repeat(32), length: 100 }]);
    db.saveUploadProgress('s1', 'big', id, 250, [
      { id: '02'.repeat(32), length: 50 },
      { id: '03'.repeat(32), length: 100 },
    ]);
    const p = db.loadUploadProgress('s1', 'big');
    expect(p?.nextOffset).toBe(250);
    expect(p?.chunks.map((c) => c.length)).toEqual([100, 50, 100]);
    expect(p?.identity).toEqual({ size: id.size, mtimeNs: id.mtimeNs, ctimeNs: id.ctimeNs, ino: id.ino, dev: id.dev });

    const changed = fileMeta({ ctimeNs: id.ctimeNs + 1n });
    db.saveUploadProgress('s1', 'big', changed, 40, [{ id: '04'.repeat(32), length: 40 }]);
    expect(db.loadUploadProgress('s1', 'big')?.chunks).toEqual([{ id: '04'.repeat(32), length: 40 }]);
    db.clearUploadProgress('s1', 'big');
    expect(db.loadUploadProgress('s1', 'big')).toBeUndefined();
  });
});

describe('crash safety', () => {
  it('keeps every queued path and acknowledged commit across an agent SIGKILL', async () => {
    const stateDbUrl = pathToFileURL(join(import.meta.dirname, 'state-db.ts')).href;
    const child = spawnTsChild(
      dir,
      `import { createStateDb } from ${JSON.stringify(stateDbUrl)};
const db = createStateDb({ path: process.argv[2] });
const paths = Array.from({ length: 5000 }, (_, i) => 'dir/file-' + i);
db.enqueue('s1', paths, 'new');
const batch = db.nextPending('s1', 100);
db.applyCommit('s1', {
  seq: 9, epoch: 1, deletes: [], completed: batch,
  upserts: batch.map((p) => ({ path: p.path, contentRoot: null, meta: { type: 'file', size: 1n, mtimeNs: 1n,
    ctimeNs: 1n, ino: 1n, dev: 1n, mode: 420, uid: 0, gid: 0, symlinkTarget: null } })),
});
console.log('ready');
setInterval(() => {}, 1000);
`,
      [dbPath],
    );
    try {
      expect(await firstLine(child)).toBe('ready');
      // The child holds the state directory: a second agent is refused, not interleaved.
      expect(() => openDb()).toThrow(/in use by another process/);
      child.kill('SIGKILL');
      await waitExit(child);
    } finally {
      child.kill('SIGKILL');
    }
    expect(child.signalCode).toBe('SIGKILL');

    const db = openDb();
    expect(db.pendingStats('s1').count).toBe(4900);
    expect(db.countKnown('s1')).toBe(100);
    expect(db.getSetState('s1').committedSeq).toBe(9);
    // Same first-seen time: ties go by path, so the next one is the 101st in path order.
    const sorted = Array.from({ length: 5000 }, (_, i) => `dir/file-${i}`).sort();
    expect(db.nextPending('s1', 1)[0]?.path).toBe(sorted[100]);
  });
});
