import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf } from '@haven/core';
import { AdminService, AgentService } from '@haven/proto';
import { createChunkUploader, uplinkFromClient } from '@haven/agent';
import { enrollTestHost, removeTempDirs, startControllerProcess } from '@haven/testing';
import type { ControllerProcess, TestHost } from '@haven/testing';
import { applyBatch, commitBatch } from './test-support/commit-batch.js';
import type { Batch, BatchPhase } from './test-support/commit-batch.js';
import { expectContentAt, expectTreeAt } from './test-support/read-back.js';
import type { AdminClient, ExpectedTree } from './test-support/read-back.js';
import { runVerify } from './test-support/run-job.js';
import { createSeededRandom, testSeed } from './test-support/seeded-random.js';
import type { SeededRandom } from './test-support/seeded-random.js';
import { withDeadline } from './test-support/with-deadline.js';

/*
 * Acceptance: an acknowledged commit survives kill -9. A writer commits a continuous stream of
 * batches while the controller is SIGKILLed at random moments (mid-upload, mid-commit,
 * mid-fsync) and restarted on the same port. Only acknowledged commits count; a batch whose
 * answer never came is retried after the restart with the same batch id. After every restart
 * every acknowledged point must read back exactly, and at the end verify finds no damage.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const SEED = testSeed(0xc0a5_4001);
const KILLS = 24;
/** Small packs, so kills also land while packs are sealed and new ones created. */
const PACK_SIZE = 8 * MiB;
/** The writer keeps its tree about this small (deleting files), which bounds reading it back. */
const TREE_BYTES = 12 * MiB;
const TREE_FILES = 14;

/** Concurrent reads while checking: they overlap the controller's disk and crypto with the transfer. */
const READERS = 4;

async function inParallel(tasks: ReadonlyArray<() => Promise<void>>, width: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, lane));
}

/** Thrown for a broken expectation inside the writer: never mistaken for the controller dying. */
class WriterCheckFailed extends Error {}

/**
 * The batches, the same sequence for a seed whatever the timing: file contents of varied sizes
 * (a few empty, many small, some of several chunks), contents shared across batches (a pool of
 * blobs), overwrites, deletes and renames of earlier files.
 */
function createBatchSource(rnd: SeededRandom): (tree: ExpectedTree) => Batch {
  const pool = Array.from({ length: 5 }, () => rnd.bytes(rnd.int(100 * KiB, 5 * MiB / 2)));
  let n = 0;
  const sizeOf = (): number => {
    const r = rnd.next();
    if (r < 0.05) return 0;
    if (r < 0.6) return rnd.int(1, 64 * KiB);
    return rnd.int(64 * KiB, MiB);
  };
  return (tree) => {
    n++;
    const deletes: string[] = [];
    const puts: Array<{ path: string; content: Buffer }> = [];
    const used = new Set<string>();
    const existing = (): string[] => [...tree.keys()].filter((p) => !used.has(p));
    const remove = (path: string): void => {
      deletes.push(path);
      used.add(path);
    };
    const put = (path: string, content: Buffer): void => {
      puts.push({ path, content });
      used.add(path);
    };
    // Keep the tree bounded: drop the largest files first.
    let bytes = [...tree.values()].reduce((s, b) => s + b.length, 0);
    let files = tree.size;
    for (const [path, content] of [...tree].sort((a, b) => b[1].length - a[1].length)) {
      if (bytes <= TREE_BYTES && files <= TREE_FILES) break;
      remove(path);
      bytes -= content.length;
      files--;
    }
    if (existing().length > 0 && rnd.chance(0.4)) remove(rnd.pick(existing()));
    if (existing().length > 0 && rnd.chance(0.3)) {
      const from = rnd.pick(existing());
      remove(from);
      put(`renamed-${n}.bin`, tree.get(from)!);
    }
    if (existing().length > 0 && rnd.chance(0.3)) put(rnd.pick(existing()), rnd.bytes(sizeOf()));
    const fresh = rnd.int(1, 3);
    for (let i = 0; i < fresh; i++) put(`f${n}-${i}.bin`, rnd.bytes(sizeOf()));
    if (rnd.chance(0.4)) put(`multi-${n}.bin`, rnd.bytes(rnd.int(2 * MiB, 6 * MiB)));
    if (rnd.chance(0.5)) put(`shared-${n}.bin`, rnd.pick(pool));
    return { id: `batch-${n}`, deletes, puts };
  };
}

let ctl: ControllerProcess;
let host: TestHost;

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha', env: { HAVEN_PACK_SIZE_BYTES: String(PACK_SIZE) } });
  const conn = ctl.connect();
  host = await enrollTestHost(ctl, 'web-1');
  await conn.client(AdminService).createSet({ spec: { name: 'crash', host: 'web-1', source: { case: 'path', value: '/srv/crash' } } });
  conn.close();
});

afterAll(async () => {
  host?.close();
  await ctl?.stop();
  removeTempDirs();
});

describe(`controller crash (seed ${SEED}, replay with HAVEN_TEST_SEED)`, () => {
  it(`keeps every acknowledged commit readable across ${KILLS} kill -9s`, { timeout: 300_000 }, async ({ annotate }) => {
    const nextBatch = createBatchSource(createSeededRandom(SEED));
    const kills = createSeededRandom(SEED ^ 0x5a5a5a5a);
    /** Expected state at every acknowledged point. */
    const acked = new Map<number, ExpectedTree>();
    let tree: ExpectedTree = new Map();
    let lastSeq = 0;
    let pending: { batch: Batch; commitSent: boolean; killedIn: number } | undefined;
    let onAck: () => void = () => undefined;
    let killed = false;
    let phase: BatchPhase | 'idle' = 'idle';
    const phasesAtKill = new Map<string, number>();
    const errorCodes = new Map<string, number>();
    let duplicates = 0;
    let refusals = 0;
    let retried = 0;

    /** Commits batch after batch until the controller goes away under it. */
    async function writeUntilKilled(): Promise<void> {
      const conn = host.connect();
      const agent = conn.client(AgentService);
      const uploader = createChunkUploader(uplinkFromClient(agent));
      try {
        for (;;) {
          if (pending === undefined) pending = { batch: nextBatch(tree), commitSent: false, killedIn: 0 };
          else retried++;
          const current = pending;
          const out = await commitBatch(agent, uploader, 'crash', current.batch, (p) => {
            phase = p;
            if (p === 'commit') current.commitSent = true;
          });
          phase = 'idle';
          // A commit of this batch id answered now and only now: it is the next point.
          if (out.seq !== lastSeq + 1) throw new WriterCheckFailed(`${current.batch.id} committed at seq ${out.seq}, expected ${lastSeq + 1}`);
          if (out.duplicate && !current.commitSent) throw new WriterCheckFailed(`${current.batch.id} answered duplicate on its first commit`);
          if (out.duplicate) duplicates++;
          refusals += out.refusals;
          tree = applyBatch(tree, current.batch);
          lastSeq = out.seq;
          acked.set(out.seq, tree);
          pending = undefined;
          onAck();
        }
      } catch (err) {
        // While the controller is up every call must succeed; after the kill any call may fail.
        if (!killed || err instanceof WriterCheckFailed) throw err;
        if (pending !== undefined) pending.killedIn++;
        const code = errorCodeOf(err);
        errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
      } finally {
        conn.close();
      }
    }

    /** Every acknowledged point: its listing, and every version's bytes. */
    async function expectAcked(admin: AdminClient, full: boolean): Promise<void> {
      // The point list holds the acked seqs, plus at most the unacknowledged batch if it landed.
      const seqs = (await admin.listPoints({ set: 'crash' })).points.map((p) => Number(p.seq));
      const want = Array.from({ length: lastSeq }, (_, i) => i + 1);
      const counts = pending?.commitSent === true ? [lastSeq, lastSeq + 1] : [lastSeq];
      expect(counts, `points listed: ${seqs.join(',')}`).toContain(seqs.length);
      expect(seqs.slice(0, lastSeq)).toEqual(want);
      const read = new Set<Buffer>();
      const reads: Array<() => Promise<void>> = [];
      for (const seq of want) {
        const at = acked.get(seq)!;
        await expectTreeAt(admin, 'crash', seq, at);
        // The listing pins every file of this point to its content root and size, and equal
        // roots name equal bytes: so reading each content once, where it first appears, reads
        // every file of every point. The final pass reads every file at every point anyway.
        for (const [path, content] of at) {
          if (!full && read.has(content)) continue;
          read.add(content);
          reads.push(() => expectContentAt(admin, 'crash', seq, path, content));
        }
      }
      await inParallel(reads, READERS);
    }

    for (let round = 1; round <= KILLS; round++) {
      killed = false;
      // A batch killed in two rounds already is let through before the timer starts: a large
      // batch could otherwise be killed before its ack forever (unsynced uploads die with the
      // process, so every retry starts over).
      const stuck = pending !== undefined && pending.killedIn >= 2;
      const unstuck = new Promise<void>((resolve) => (onAck = resolve));
      const writer = writeUntilKilled();
      const writerEnded = writer.then(() => {
        throw new Error('the writer stopped although the controller was not killed');
      });
      writerEnded.catch(() => undefined);
      if (stuck) await withDeadline(Promise.race([unstuck, writerEnded]), 60_000, `retry of ${pending?.batch.id ?? ''} with the controller up`);
      await Promise.race([sleep(kills.int(50, 600)), writerEnded]);
      killed = true;
      phasesAtKill.set(phase, (phasesAtKill.get(phase) ?? 0) + 1);
      expect(await ctl.kill('SIGKILL')).toBe('SIGKILL');
      await Promise.race([
        writer,
        sleep(20_000).then(() => {
          throw new Error('the writer did not notice the controller was gone within 20 s');
        }),
      ]);
      await ctl.restart();
      const conn = ctl.connect();
      try {
        await expectAcked(conn.client(AdminService), false);
      } finally {
        conn.close();
      }
    }

    // Settle: the last unacknowledged batch is retried to its ack, then everything is checked
    // once more, reading every file at every point, and verified.
    killed = false;
    const conn = host.connect();
    if (pending !== undefined) {
      const agent = conn.client(AgentService);
      const out = await commitBatch(agent, createChunkUploader(uplinkFromClient(agent)), 'crash', pending.batch);
      expect(out.seq).toBe(lastSeq + 1);
      tree = applyBatch(tree, pending.batch);
      lastSeq = out.seq;
      acked.set(out.seq, tree);
      pending = undefined;
    }
    conn.close();
    const adminConn = ctl.connect();
    try {
      const admin = adminConn.client(AdminService);
      await expectAcked(admin, true);
      const report = await runVerify(admin);
      expect(report.chunksChecked).toBeGreaterThan(0n);
      expect(report.damagedChunks).toBe(0n);
      expect(report.damagedChunkIds).toEqual([]);
    } finally {
      adminConn.close();
    }
    expect(lastSeq).toBeGreaterThan(0);
    await annotate(
      `${lastSeq} points acked; kills while ${JSON.stringify(Object.fromEntries(phasesAtKill))}; ` +
        `failed calls ${JSON.stringify(Object.fromEntries(errorCodes))}; ${retried} batches retried after a restart, ` +
        `${duplicates} answered duplicate, ${refusals} commits refused for missing chunks`,
    );
  });
});
