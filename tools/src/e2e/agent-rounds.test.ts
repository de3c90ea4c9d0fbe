import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService, JobState } from '@haven/proto';
import type { Client } from '@haven/proto';
import {
  applyEditRound,
  diffTrees,
  generateTree,
  makeTempDir,
  removeTempDirs,
  startAgentProcess,
  startControllerProcess,
  treeDigest,
} from '@haven/testing';
import type { AgentProcess, ControllerProcess, TreeEntryDigest } from '@haven/testing';

// Sizes for CI; the bench protects larger trees.
const FILES = Number(process.env['HAVEN_E2E_FILES'] ?? 5000);
const MIB = Number(process.env['HAVEN_E2E_TREE_MIB'] ?? 200);
const ROUNDS = 3;

let ctl: ControllerProcess;
let agent: AgentProcess;
let admin: Client<typeof AdminService>;
let src: string;

/** Waits until the agent reports nothing pending and the newest point lists exactly `want`. */
async function settledAt(want: Map<string, TreeEntryDigest>, timeoutMs = 240_000): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await admin.getStatus({});
    const set = status.sets.find((s) => s.name === 'tree');
    const last = set?.lastPoint?.seq;
    if (set !== undefined && last !== undefined && set.backlogFiles === 0n) {
      const seen = new Map<string, bigint>();
      for await (const r of admin.listFiles({ set: 'tree', recursive: true, point: { point: { case: 'seq', value: last } } })) {
        for (const e of r.entries) seen.set(e.path, e.size);
      }
      const same = seen.size === want.size && [...want].every(([p, d]) => seen.get(p) === (d.type === 'file' ? BigInt(d.size) : seen.get(p)) && seen.has(p));
      if (same) return last;
    }
    if (Date.now() > deadline) throw new Error(`not settled: ${JSON.stringify(set)}\n${agent.process.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function restoreAt(seq: bigint): Promise<string> {
  const target = join(makeTempDir('haven-rounds-restore-'), 'out');
  const { job } = await admin.startRestore({ set: 'tree', point: { point: { case: 'seq', value: seq } }, host: 'web-1', target });
  let last;
  for await (const r of admin.watchJob({ id: job!.id })) last = r.job;
  expect(last?.state, JSON.stringify(last?.error)).toBe(JobState.SUCCEEDED);
  return target;
}

beforeAll(async () => {
  ctl = await startControllerProcess();
  admin = ctl.connect().client(AdminService);
  src = join(makeTempDir('haven-rounds-src-'), 'tree');
  const made = generateTree(src, { files: FILES, totalBytes: MIB * 1024 * 1024, seed: 42 });
  expect(made.files).toBe(FILES);
  agent = await startAgentProcess(ctl, { hostName: 'web-1' });
  await admin.createSet({ spec: { name: 'tree', host: 'web-1', source: { case: 'path', value: src } } });
}, 300_000);

afterAll(async () => {
  await agent?.stop();
  await ctl?.stop();
  removeTempDirs();
});

describe(`agent round trip over ${FILES} files / ${MIB} MiB`, () => {
  it('restores every round exactly: contents, modes, mtimes, symlinks, empty dirs', async () => {
    const rounds: Array<{ seq: bigint; digest: Map<string, TreeEntryDigest> }> = [];
    let digest = treeDigest(src);
    rounds.push({ seq: await settledAt(digest), digest });
    for (let r = 1; r <= ROUNDS; r++) {
      applyEditRound(src, 1000 + r);
      digest = treeDigest(src);
      const seq = await settledAt(digest);
      expect(seq).toBeGreaterThan(rounds.at(-1)!.seq);
      rounds.push({ seq, digest });
    }
    for (const round of rounds) {
      const out = await restoreAt(round.seq);
      expect(diffTrees(round.digest, treeDigest(out)), `round at seq ${round.seq}`).toEqual([]);
    }
  }, 600_000);
});
