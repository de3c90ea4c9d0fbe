import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { chunkIdOf } from '@haven/core';
import { createPackStore } from './pack-store.js';

// The writer runs in a real child process that is killed with SIGKILL mid-ingest. It runs the
// compiled dist/ output (as every child process of the test harness does): build first.
const distStore = new URL('../../dist/store/pack-store.js', import.meta.url);
const distCore = new URL('../../../../libs/core/dist/index.js', import.meta.url);

function assertBuilt(): void {
  const srcDir = fileURLToPath(new URL('.', import.meta.url));
  for (const url of [distStore, distCore]) {
    if (!existsSync(url)) throw new Error(`${fileURLToPath(url)} is missing: run \`npx tsc -b tsconfig.build.json\` first`);
  }
  // Each source against its own output: tsc -b leaves an output whose text did not change untouched.
  for (const name of ['pack-store.ts', 'pack-files.ts', 'pack-index.ts', 'pack-record.ts']) {
    const built = new URL(name.replace(/\.ts$/, '.js'), distStore);
    if (!existsSync(built) || statSync(join(srcDir, name)).mtimeMs > statSync(built).mtimeMs) {
      throw new Error(`dist/ is older than src/store/${name}: run \`npx tsc -b tsconfig.build.json\` first`);
    }
  }
}

// argv: dir, key, mode. Mode "gc" also declares chunks dead, sweeps and compacts while ingest
// goes on, so the kill also lands inside sweeps, copies and pack deletions.
const WRITER = `
import { randomBytes } from 'node:crypto';
import { createPackStore } from ${JSON.stringify(distStore.href)};
import { chunkIdOf } from ${JSON.stringify(distCore.href)};
const [dir, keyHex, mode] = process.argv.slice(2);
const store = await createPackStore({ dir, key: Buffer.from(keyHex, 'hex'), packSizeBytes: 256 * 1024 });
function next() {
  // Half random, half repetitive: exercises both stored forms.
  const data = Buffer.alloc(20000 + Math.floor(Math.random() * 40000), 'abcdefgh');
  randomBytes(data.length >> 1).copy(data);
  return { id: chunkIdOf(data), raw: data };
}
const dead = new Set();
let gc = Promise.resolve();
for (let batch = 1; ; batch++) {
  const ids = [];
  for (let i = 0; i < 8; i++) {
    const c = next();
    await store.put(c.id, { raw: c.raw });
    ids.push(c.id);
  }
  // Unsynced puts in flight while the sync runs: they may be cut, never half-indexed.
  for (let i = 0; i < 3; i++) { const c = next(); void store.put(c.id, { raw: c.raw }); }
  await store.sync();
  process.stdout.write('synced ' + ids.join(',') + '\\n');
  if (mode === 'gc' && batch % 2 === 0) {
    await gc;
    const victims = ids.slice(0, 6);
    process.stdout.write('dead ' + victims.join(',') + '\\n');
    for (const id of victims) dead.add(id);
    gc = (async () => {
      const gen = await store.beginGcGeneration();
      await store.sweep(gen, (id) => !dead.has(id));
      await store.compact({ minDeadRatio: 0.3 });
    })();
  }
}
`;

describe('pack store under SIGKILL', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function killMidRun(mode: string, batchesBeforeKill: number): Promise<{ storeDir: string; key: Buffer; synced: string[]; dead: Set<string> }> {
    assertBuilt();
    const dir = await mkdtemp(join(tmpdir(), 'haven-crash-'));
    dirs.push(dir);
    const key = randomBytes(32);
    const script = join(dir, 'writer.mjs');
    await writeFile(script, WRITER);
    const storeDir = join(dir, 'store');
    const synced: string[] = [];
    const dead = new Set<string>();
    let stderr = '';
    const child = spawn(process.execPath, [script, storeDir, key.toString('hex'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      let buffered = '';
      let batches = 0;
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const [kind, ids = ''] = buffered.slice(0, nl).split(' ');
          buffered = buffered.slice(nl + 1);
          if (kind === 'dead') for (const id of ids.split(',')) dead.add(id);
          if (kind !== 'synced') continue;
          synced.push(...ids.split(','));
          // Kill at a point that varies from run to run: mid-put, mid-sync, mid-compaction.
          if (++batches === batchesBeforeKill) setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 10));
        }
      });
      child.on('exit', (_code, sig) =>
        batches >= batchesBeforeKill ? resolve(sig) : reject(new Error(`writer exited early: ${stderr}`)),
      );
    });
    expect(signal).toBe('SIGKILL');
    return { storeDir, key, synced, dead };
  }

  async function checkAfterCrash(storeDir: string, key: Buffer, mustHave: readonly string[]): Promise<void> {
    const store = await createPackStore({ dir: storeDir, key, packSizeBytes: 256 * 1024 });
    try {
      expect(store.recovery.lostChunks).toEqual([]);
      for (const id of mustHave) expect(chunkIdOf(await store.get(id))).toBe(id);
      // Nothing indexed is damaged: every listed chunk reads back and verifies.
      let listed = 0;
      for await (const loc of store.list()) {
        expect(chunkIdOf(await store.get(loc.id))).toBe(loc.id);
        listed += 1;
      }
      expect(listed).toBeGreaterThanOrEqual(mustHave.length);
      const packs = (await readdir(join(storeDir, 'packs'))).length;
      expect((await store.stats()).packs).toBe(packs);
      const data = randomBytes(30_000);
      await store.put(chunkIdOf(data), { raw: data });
      await store.sync();
      expect(chunkIdOf(await store.get(chunkIdOf(data)))).toBe(chunkIdOf(data));
      const result = await store.compact({ minDeadRatio: 0.01 });
      expect(result.bytesFreed).toBeGreaterThanOrEqual(0);
      for (const id of mustHave) expect(chunkIdOf(await store.get(id))).toBe(id);
    } finally {
      await store.close();
    }
  }

  it('keeps every chunk whose sync resolved, and nothing indexed is damaged', async () => {
    const { storeDir, key, synced } = await killMidRun('ingest', 12);
    expect(synced.length).toBeGreaterThanOrEqual(96);
    await checkAfterCrash(storeDir, key, synced);
  });

  it('keeps every live synced chunk when killed during sweep and compaction', async () => {
    const { storeDir, key, synced, dead } = await killMidRun('gc', 24);
    expect(dead.size).toBeGreaterThan(0);
    await checkAfterCrash(
      storeDir,
      key,
      synced.filter((id) => !dead.has(id)),
    );
  });
});
