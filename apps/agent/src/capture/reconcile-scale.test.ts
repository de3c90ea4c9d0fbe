import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from './reconcile.js';
import { scanTree } from './scanner.js';
import { createStateDb } from './state-db.js';
import type { KnownUpsert, StateDb } from './state-db.js';

/*
 * Scale check: reconcile cost grows with the number of entries, never with their size,
 * and an unchanged tree is a metadata walk plus one index read per directory. The suite
 * runs 20k files (creating 100k inodes takes 10-60 s on a busy disk); measure the 100k
 * case with HAVEN_RECONCILE_FILES=100000 (a multiple of 100). Contents not being read is
 * shown on 64 GiB of sparse files in reconcile.test.ts.
 */

const FILES = Number(process.env['HAVEN_RECONCILE_FILES'] ?? 20_000);
const PER_DIR = 100;

let base: string;
let root: string;
let db: StateDb;

const rchar = (): number => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'haven-reconcile-scale-'));
  root = join(base, 'root');
  for (let d = 0; d < FILES / PER_DIR; d++) {
    const dir = join(root, `g${Math.floor(d / 100)}`, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < PER_DIR; f++) writeFileSync(join(dir, `file-${f}.dat`), '');
  }
  db = createStateDb({ path: join(base, 'state.db') });
});

afterAll(() => {
  db?.close();
  rmSync(base, { recursive: true, force: true });
});

describe(`reconcile at scale (${FILES} files)`, () => {
  it('reconciles an unchanged tree in seconds without reading contents', async () => {
    const initial = await reconcile('s1', root, db);
    const entries = FILES + FILES / PER_DIR + Math.ceil(FILES / PER_DIR / 100);
    expect(initial.new).toBe(entries);
    expect(db.pendingStats('s1').count).toBe(entries);

    // Acknowledge everything, as commits would.
    const ackStart = performance.now();
    let batch: KnownUpsert[] = [];
    await scanTree(root, {
      onEntry: (e) => {
        batch.push({ path: e.path, meta: e.meta, contentRoot: null });
        if (batch.length === 5000) {
          db.upsertKnown('s1', 1, batch);
          batch = [];
        }
      },
    });
    db.upsertKnown('s1', 1, batch);
    db.completePending('s1', db.nextPending('s1', entries));
    const ackMs = performance.now() - ackStart;

    const readBefore = rchar();
    const unchanged = await reconcile('s1', root, db);
    const readBytes = rchar() - readBefore;
    expect(unchanged).toMatchObject({ scanned: entries, unchanged: entries, new: 0, modified: 0, deleted: 0 });
    // What is read() is state DB pages at most (directory listings are getdents, not read).
    expect(readBytes).toBeLessThan(200 * FILES);
    // ~1.7 s per 100k entries measured on 2 busy cores; the bound only catches a blow-up.
    expect(unchanged.durationMs).toBeLessThan(FILES / 5);

    for (let d = 0; d < 10; d++) writeFileSync(join(root, 'g0', `d${d}`, 'file-0.dat'), 'changed');
    const touched = await reconcile('s1', root, db);
    expect(touched).toMatchObject({ modified: 10, new: 0, deleted: 0, enqueued: 10 });

    console.info(
      `reconcile ${entries} entries: initial (all new, queued) ${initial.durationMs.toFixed(0)} ms; ` +
        `ack ${ackMs.toFixed(0)} ms; unchanged ${unchanged.durationMs.toFixed(0)} ms ` +
        `(scan ${unchanged.scan.durationMs.toFixed(0)} ms), read() ${(readBytes / 1024).toFixed(0)} KiB; ` +
        `10 modified ${touched.durationMs.toFixed(0)} ms`,
    );
  });
});
