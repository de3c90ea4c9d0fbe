import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '@haven/core';
import type { Catalog } from './catalog.js';
import { describeCatalogContract, dir, expectHavenError, file, rootOf } from './catalog.contract.js';
import { CATALOG_APPLICATION_ID, CATALOG_SCHEMA_VERSION } from './catalog-schema.js';
import { createSqliteCatalog } from './sqlite-catalog.js';
import { STATE_ALL_SQL, STATE_UNDER_SQL, VERSION_AT_SQL } from './sqlite-catalog-journal.js';

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'haven-catalog-'));
  tempDirs.push(d);
  return d;
}
async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

describeCatalogContract('sqlite', async (clock) => {
  const d = await tempDir();
  const catalog = createSqliteCatalog({ path: join(d, 'catalog.db'), clock });
  return {
    catalog,
    cleanup: async () => {
      catalog.close();
      await removeTempDirs();
    },
  };
});

describe('createSqliteCatalog', () => {
  const T0 = Date.UTC(2026, 0, 1);
  let d: string;
  let open: Catalog[];
  const openCatalog = (path = join(d, 'catalog.db'), clock = createManualClock(T0)): Catalog => {
    const c = createSqliteCatalog({ path, clock });
    open.push(c);
    return c;
  };

  beforeEach(async () => {
    d = await tempDir();
    open = [];
  });
  afterEach(async () => {
    for (const c of open) c.close();
    await removeTempDirs();
  });

  it('creates the schema in a new file and records its version', () => {
    const path = join(d, 'catalog.db');
    openCatalog(path).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(CATALOG_SCHEMA_VERSION);
      expect(db.pragma('application_id', { simple: true })).toBe(CATALOG_APPLICATION_ID);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(
        expect.arrayContaining(['audit_log', 'branches', 'enrollment_tokens', 'hosts', 'jobs', 'journal', 'local_site', 'peer_sites', 'sets', 'versions']),
      );
    } finally {
      db.close();
    }
  });

  it('migrates an existing empty file', async () => {
    const path = join(d, 'empty.db');
    await writeFile(path, '');
    openCatalog(path).initLocalSite({ id: 'x', name: 'alpha' });
    expect(openCatalog(path).getLocalSite()?.name).toBe('alpha');
  });

  it('refuses files that are not its catalog', async () => {
    const foreign = join(d, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expectHavenError(() => openCatalog(foreign), 'FAILED_PRECONDITION', /not a Haven catalog/);

    const newer = join(d, 'newer.db');
    openCatalog(newer).close();
    const db2 = new Database(newer);
    db2.pragma(`user_version = ${CATALOG_SCHEMA_VERSION + 1}`);
    db2.close();
    expectHavenError(() => openCatalog(newer), 'FAILED_PRECONDITION', /newer than this controller supports/);

    const garbage = join(d, 'garbage.db');
    await writeFile(garbage, 'this is not a database, just text long enough to have a header'.repeat(20));
    expectHavenError(() => openCatalog(garbage), 'CORRUPT');
  });

  it('validates its options', () => {
    expectHavenError(() => createSqliteCatalog({ path: ':memory:' }), 'INVALID_ARGUMENT');
    expectHavenError(() => createSqliteCatalog({ path: '' }), 'INVALID_ARGUMENT');
    expectHavenError(() => createSqliteCatalog({ path: join(d, 'x.db'), clock: {} as never }), 'INVALID_ARGUMENT');
    expectHavenError(() => createSqliteCatalog({ path: join(d, 'missing-dir', 'x.db') }), 'FAILED_PRECONDITION', /directory does not exist/);
  });

  it('keeps everything across close and reopen', () => {
    const a = openCatalog();
    a.initLocalSite({ id: 'site-id', name: 'alpha' });
    a.addPeerSite({ name: 'beta', id: 'beta-id', address: 'b:1', caPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' });
    const host = a.addHost({ name: 'web1', certFingerprint: 'fp' });
    a.addEnrollmentToken({ tokenHash: 'th', hostName: 'web2', expiresAtMs: T0 + 60_000 });
    a.appendAudit({ actor: 'admin', action: 'x', result: 'OK', details: { k: [1, 2] } });
    const job = a.createJob({ kind: 'verify', spec: { sample: 5 } });
    a.createSet({ name: 's', host: 'web1', kind: 'files', source: '/srv', replicateTo: ['beta'], sync: true });
    a.commit({ setName: 's', epoch: 1, batchId: 'b1', changes: [dir('d'), file('d/f', 'one')] });
    a.commit({ setName: 's', epoch: 1, batchId: 'b2', changes: [file('d/f', 'two')], label: 'l' });
    a.forkBranch('s', { branch: 'split', atSeq: 1 });
    a.advanceEpoch('s');
    const snapshot = (c: Catalog): unknown => ({
      site: c.getLocalSite(),
      peers: c.listPeerSites(),
      hosts: c.listHosts({ includeRemoved: true }),
      tokens: c.listEnrollmentTokens({ includeInactive: true }),
      audit: c.listAudit(),
      jobs: c.listJobs(),
      sets: c.listSets(),
      points: c.listPoints('s', { includeDivergent: true }),
      branches: c.listBranches('s'),
      state1: [...c.stateAt('s', 1)],
      state2: [...c.stateAt('s', 2)],
      roots: [...c.liveContentRoots()],
    });
    const before = snapshot(a);
    a.close();
    const b = openCatalog();
    expect(snapshot(b)).toEqual(before);
    expect(b.getHostById(host.id)?.name).toBe('web1');
    expect(b.getJob(job.id)?.spec).toEqual({ sample: 5 });
    expect(b.commit({ setName: 's', epoch: 1, batchId: 'b2', changes: [] })).toMatchObject({ seq: 2, duplicate: true });
    expectHavenError(() => b.commit({ setName: 's', epoch: 1, batchId: 'b3', changes: [] }), 'FENCED');
    expect(b.commit({ setName: 's', epoch: 2, batchId: 'b3', changes: [] }).seq).toBe(3);
  });

  it('lets a second connection read what the first committed', () => {
    const path = join(d, 'catalog.db');
    const writer = openCatalog(path);
    writer.initLocalSite({ id: 'i', name: 'alpha' });
    writer.createSet({ name: 's', host: 'h', kind: 'files', source: '/x' });
    const reader = openCatalog(path);
    writer.commit({ setName: 's', epoch: 1, batchId: 'b', changes: [file('f')] });
    expect(reader.getVersion('s', 'f', 1)?.contentRoot).toBe(rootOf('f'));
  });

  it('reads the state at a point of 100k files with an index range scan', () => {
    const path = join(d, 'catalog.db');
    const cat = openCatalog(path);
    cat.initLocalSite({ id: 'i', name: 'alpha' });
    cat.createSet({ name: 'big', host: 'h', kind: 'files', source: '/data' });
    const N = 100_000;
    const changes = [];
    for (let i = 0; i < 100; i++) changes.push(dir(`d${i}`));
    for (let i = 0; i < N; i++) changes.push(file(`d${i % 100}/file-${i}`, `content-${i}`));
    let t = performance.now();
    cat.commit({ setName: 'big', epoch: 1, batchId: 'initial', changes });
    const commitMs = performance.now() - t;
    cat.commit({ setName: 'big', epoch: 1, batchId: 'second', changes: changes.slice(100, 10_100).map((c) => ({ ...c, size: 1 })) });

    t = performance.now();
    let n = 0;
    for (const v of cat.stateAt('big', 1)) if (v.seqFrom === 1) n++;
    const stateMs = performance.now() - t;
    expect(n).toBe(N + 100);
    console.info(
      `catalog: commit of ${changes.length} changes ${commitMs.toFixed(0)} ms (${Math.round((changes.length / commitMs) * 1000)}/s); ` +
        `stateAt over ${n} versions ${stateMs.toFixed(0)} ms (${Math.round((n / stateMs) * 1000)}/s)`,
    );

    const db = new Database(path, { readonly: true });
    try {
      const plan = (sql: string, params: unknown[]): string =>
        db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...params)
          .map((r) => (r as { detail: string }).detail)
          .join('\n');
      const whole = plan(STATE_ALL_SQL, [1, 0, '', 1, 1, 1, '', 1000]);
      const under = plan(STATE_UNDER_SQL, [1, 0, 'd1/', 'd10', 1, 1, 0, 'd1/', 1000]);
      const one = plan(VERSION_AT_SQL, [1, 0, 'd1/file-1', 1]);
      for (const p of [whole, under, one]) {
        expect(p).toMatch(/SEARCH versions USING PRIMARY KEY \(set_key=\? AND branch=\?/);
        expect(p).not.toMatch(/SCAN versions/);
        expect(p).not.toMatch(/TEMP B-TREE/);
      }
      expect(under).toMatch(/path>\? AND path<\?/);
    } finally {
      db.close();
    }
  });

  it('keeps every acked commit when the process is killed with SIGKILL', async () => {
    const built = fileURLToPath(new URL('../../dist/catalog/sqlite-catalog.js', import.meta.url));
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npx tsc -b tsconfig.build.json\` first`);
    const path = join(d, 'catalog.db');
    const setup = openCatalog(path);
    setup.initLocalSite({ id: 'i', name: 'alpha' });
    setup.createSet({ name: 's', host: 'h', kind: 'files', source: '/x' });
    setup.close();
    // The child commits as fast as it can and prints each ack only after commit() returned.
    const script = `
      import { createSqliteCatalog } from ${JSON.stringify(built)};
      const cat = createSqliteCatalog({ path: ${JSON.stringify(path)} });
      const root = (i) => (i.toString(16).padStart(8, '0')).repeat(8);
      for (let i = 1; ; i++) {
        const r = cat.commit({ setName: 's', epoch: 1, batchId: 'b' + i, changes: [
          { op: 'put', path: 'f' + (i % 50), type: 'file', mode: 420, uid: 0, gid: 0, mtimeNs: BigInt(i), size: i, contentRoot: root(i) },
        ] });
        process.stdout.write('acked ' + r.seq + '\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        for (const m of buf.matchAll(/acked (\d+)\n/g)) acked = Math.max(acked, Number(m[1]));
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
        if (acked >= 30) resolve();
      });
      child.once('exit', () => reject(new Error(`child exited early: ${stderr}`)));
    });
    child.kill('SIGKILL');
    await exited;
    const after = openCatalog(path);
    const last = after.getSet('s')?.lastSeq ?? 0;
    expect(last).toBeGreaterThanOrEqual(acked);
    const points = after.listPoints('s');
    expect(points.map((p) => p.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(after.getVersion('s', `f${acked % 50}`, acked)?.size).toBe(acked);
  });
});
