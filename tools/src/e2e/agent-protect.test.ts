import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService, JobState, SetState } from '@haven/proto';
import type { Client } from '@haven/proto';
import { diffTrees, makeTempDir, removeTempDirs, startAgentProcess, startControllerProcess, treeDigest } from '@haven/testing';
import type { AgentProcess, ControllerProcess } from '@haven/testing';

let ctl: ControllerProcess;
let agent: AgentProcess;
let admin: Client<typeof AdminService>;
let src: string;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${agent.process.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the latest point's listing matches the tree on disk, and returns its seq. */
async function settled(): Promise<bigint> {
  const want = treeDigest(src);
  return waitFor('the controller to hold the current tree', async () => {
    const pts = await admin.listPoints({ set: 'docs' });
    const last = pts.points.at(-1);
    if (last === undefined) return undefined;
    const seen = new Map<string, { size: bigint }>();
    for await (const r of admin.listFiles({ set: 'docs', recursive: true, point: { point: { case: 'seq', value: last.seq } } })) {
      for (const e of r.entries) seen.set(e.path, { size: e.size });
    }
    if (seen.size !== want.size) return undefined;
    for (const [p, d] of want) {
      const s = seen.get(p);
      if (s === undefined || (d.type === 'file' && s.size !== BigInt(d.size))) return undefined;
    }
    const status = await admin.getStatus({});
    const set = status.sets.find((s) => s.name === 'docs');
    return set !== undefined && set.backlogBytes === 0n && set.state === SetState.CONTINUOUS ? last.seq : undefined;
  });
}

async function restoreAt(seq: bigint): Promise<string> {
  const target = join(makeTempDir('haven-restore-'), 'out');
  const { job } = await admin.startRestore({ set: 'docs', point: { point: { case: 'seq', value: seq } }, host: 'web-1', target });
  let last;
  for await (const r of admin.watchJob({ id: job!.id })) last = r.job;
  expect(last?.state, JSON.stringify(last?.error)).toBe(JobState.SUCCEEDED);
  return target;
}

beforeAll(async () => {
  ctl = await startControllerProcess();
  admin = ctl.connect().client(AdminService);
  src = join(makeTempDir('haven-src-'), 'docs');
  mkdirSync(join(src, 'a/b'), { recursive: true });
  mkdirSync(join(src, 'empty'));
  writeFileSync(join(src, 'a/one.txt'), 'one\n');
  writeFileSync(join(src, 'a/b/two.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  writeFileSync(join(src, 'zero'), '');
  symlinkSync('a/one.txt', join(src, 'link'));
  agent = await startAgentProcess(ctl, { hostName: 'web-1' });
  await admin.createSet({ spec: { name: 'docs', host: 'web-1', source: { case: 'path', value: src } } });
});

afterAll(async () => {
  await agent?.stop();
  await ctl?.stop();
  removeTempDirs();
});

describe('agent protecting a directory', () => {
  it('captures the initial tree and restores it exactly through the agent', async () => {
    const seq = await settled();
    const out = await restoreAt(seq);
    expect(diffTrees(treeDigest(src), treeDigest(out))).toEqual([]);
  });

  it('captures edits, renames, deletes and chmods as new points; every point restores', async () => {
    const before = treeDigest(src);
    const seq1 = await settled();
    appendFileSync(join(src, 'a/one.txt'), 'more\n');
    renameSync(join(src, 'a/b'), join(src, 'a/c'));
    rmSync(join(src, 'zero'));
    chmodSync(join(src, 'a/one.txt'), 0o600);
    mkdirSync(join(src, 'new/deep'), { recursive: true });
    writeFileSync(join(src, 'new/deep/file'), 'x'.repeat(10_000));
    const seq2 = await settled();
    expect(seq2).toBeGreaterThan(seq1);
    expect(diffTrees(treeDigest(src), treeDigest(await restoreAt(seq2)))).toEqual([]);
    expect(diffTrees(before, treeDigest(await restoreAt(seq1)))).toEqual([]);
  });

  it('shows the set in `haven status` as a table and as JSON with the stable keys', async () => {
    await settled();
    const json = await ctl.cli(['status', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { sets: Array<Record<string, unknown>>; hosts: Array<Record<string, unknown>> };
    const set = doc.sets.find((s) => s['name'] === 'docs');
    expect(set).toMatchObject({ name: 'docs', host: 'web-1', kind: 'SET_KIND_FILES', state: 'SET_STATE_CONTINUOUS', backlogBytes: '0' });
    expect(typeof set?.['lagSeconds']).toBe('number');
    expect(doc.hosts.find((h) => h['name'] === 'web-1')).toMatchObject({ online: true });
    const table = await ctl.cli(['status']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/docs\s+web-1\s+files\s+CONTINUOUS/);
    const points = await ctl.cli(['point', 'list', 'docs', '--json']);
    const parsed = JSON.parse(points.stdout) as { points: Array<Record<string, unknown>> };
    expect(parsed.points[0]).toEqual(expect.objectContaining({ seq: '1', epoch: '1' }));
    expect(typeof parsed.points[0]?.['time']).toBe('string');
  });

  it('lists, reads and restores locally through the haven CLI; pauses and resumes the set', async () => {
    const seq = await settled();
    const ls = await ctl.cli(['ls', 'docs', '--at', String(seq), '-r']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('a/one.txt');
    const cat = await ctl.cli(['cat', 'docs', 'a/one.txt', '--at', String(seq)]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe(readFileSync(join(src, 'a/one.txt'), 'utf8'));
    const out = join(makeTempDir('haven-cli-restore-'), 'out');
    const restore = await ctl.cli(['restore', 'docs', '--at', String(seq), '--local', out]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(diffTrees(treeDigest(src), treeDigest(out))).toEqual([]);
    const hosts = await ctl.cli(['host', 'list']);
    expect(hosts.stdout).toMatch(/web-1/);
    expect((await ctl.cli(['set', 'pause', 'docs'])).code).toBe(0);
    expect((await admin.getSet({ name: 'docs' })).set?.paused).toBe(true);
    writeFileSync(join(src, 'while-paused.txt'), 'queued while paused\n');
    expect((await ctl.cli(['set', 'resume', 'docs'])).code).toBe(0);
    await settled();
    const missing = await ctl.cli(['cat', 'docs', 'no/such/file']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('follows `haven set update --exclude`: a directory no longer excluded is captured and watched', async () => {
    const root = join(makeTempDir('haven-ex-'), 'ex');
    mkdirSync(join(root, 'skip'), { recursive: true });
    writeFileSync(join(root, 'keep.txt'), 'kept\n');
    writeFileSync(join(root, 'skip/old.txt'), 'excluded at first\n');
    await admin.createSet({ spec: { name: 'ex', host: 'web-1', source: { case: 'path', value: root }, excludes: ['skip'] } });
    const paths = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const r of admin.listFiles({ set: 'ex', recursive: true, point: { point: { case: 'latest', value: true } } })) for (const e of r.entries) out.push(e.path);
      return out.sort();
    };
    const has = (want: string[]) => async (): Promise<true | undefined> => {
      const got = await paths().catch((): string[] => []);
      return want.every((p) => got.includes(p)) ? true : undefined;
    };
    await waitFor('the first point of set ex', has(['keep.txt']));
    expect(await paths()).not.toContain('skip/old.txt');
    const update = await ctl.cli(['set', 'update', 'ex', '--clear-excludes']);
    expect(update.code, update.stderr).toBe(0);
    await waitFor('the no longer excluded directory', has(['skip', 'skip/old.txt']));
    // Written after the update: only a watch on skip/ reports it before the hourly rescan.
    writeFileSync(join(root, 'skip/new.txt'), 'written after the update\n');
    await waitFor('a file written into it afterwards', has(['skip/new.txt']), 10_000);
  });

  it('loses nothing queued across an agent SIGKILL', async () => {
    await settled();
    await agent.kill('SIGKILL');
    writeFileSync(join(src, 'while-down.txt'), 'written while the agent was dead\n');
    rmSync(join(src, 'link'));
    await agent.restart();
    const seq = await settled();
    expect(diffTrees(treeDigest(src), treeDigest(await restoreAt(seq)))).toEqual([]);
  });
});
