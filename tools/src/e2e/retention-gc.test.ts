import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkIdOf, chunkIdToBytes } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { AdminService, EntryType } from '@haven/proto';
import { createChunkUploader, sendContent, uplinkFromClient } from '@haven/agent';
import type { ChunkUploader } from '@haven/agent';
import { decodeWireChunk } from '@haven/restore';
import { enrollTestHost, removeTempDirs, startControllerProcess } from '@haven/testing';
import type { ControllerProcess, TestHost } from '@haven/testing';
import { applyBatch, commitBatch } from './test-support/commit-batch.js';
import type { AgentClient, Batch, BatchPhase } from './test-support/commit-batch.js';
import { bytesOf, contentChunks } from './test-support/content-chunks.js';
import { expectContentAt, expectPoint, expectTreeAt, readFileBytes } from './test-support/read-back.js';
import type { AdminClient, ExpectedTree } from './test-support/read-back.js';
import { failureOf } from './test-support/failure-of.js';
import { runGc, runPrune, runVerify } from './test-support/run-job.js';
import { createSeededRandom, testSeed } from './test-support/seeded-random.js';

/*
 * Acceptance: retention drops versions, gc removes exactly the chunks only they used and
 * nothing else, a dry run changes nothing, and commits that run while gc runs — including
 * ones that deduplicate against chunks that are garbage when the mark starts — lose nothing.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small packs: sweeping leaves mostly-dead sealed packs, so compaction rewrites and deletes some. */
const PACK_SIZE = 4 * MiB;
const SEED = testSeed(0x6c_0001);
/** gc runs while the writer commits. */
const GC_RUNS = 8;

const rnd = createSeededRandom(SEED);
// Longer than FastCDC's 4 MiB maximum: its first chunk is shared by every content starting with it.
const prefix = rnd.bytes(5 * MiB);
const c = {
  u1: Buffer.concat([prefix, rnd.bytes(1536 * KiB)]),
  u2: rnd.bytes(3 * MiB),
  u3: Buffer.concat([prefix, rnd.bytes(MiB)]),
  s: rnd.bytes(1536 * KiB),
  small: rnd.bytes(20 * KiB),
  x: rnd.bytes(3 * MiB),
  c4: rnd.bytes(50 * KiB),
};

/** Points 1 and 2 are dropped by last:2; u1, u2, small and x are used only there (x also in set keep). */
const retBatches: Batch[] = [
  { id: 'r1', deletes: [], puts: [{ path: 'a.bin', content: c.u1 }, { path: 's.bin', content: c.s }, { path: 'small.txt', content: c.small }] },
  { id: 'r2', deletes: ['small.txt'], puts: [{ path: 'a.bin', content: c.u2 }, { path: 'x.bin', content: c.x }] },
  { id: 'r3', deletes: ['x.bin'], puts: [{ path: 'a.bin', content: c.u3 }] },
  { id: 'r4', deletes: [], puts: [{ path: 'c.txt', content: c.c4 }] },
];

let ctl: ControllerProcess;
let host: TestHost;
let admin: AdminClient;
let agent: AgentClient;
let uploader: ChunkUploader;
/** Expected state of set ret at each of its points. */
const ret = new Map<number, ExpectedTree>();
let head: ExpectedTree = new Map();

function chunksOf(...contents: Buffer[]): Map<ChunkId, number> {
  const out = new Map<ChunkId, number>();
  for (const content of contents) for (const [id, size] of contentChunks(content).sizes) out.set(id, size);
  return out;
}

async function commitRet(batch: Batch): Promise<number> {
  const out = await commitBatch(agent, uploader, 'ret', batch);
  head = applyBatch(head, batch);
  ret.set(out.seq, head);
  return out.seq;
}

async function pointSeqs(set: string): Promise<number[]> {
  return (await admin.listPoints({ set })).points.map((p) => Number(p.seq));
}


async function readChunk(set: string, id: ChunkId): Promise<Uint8Array> {
  for await (const r of admin.readChunks({ set, ids: [chunkIdToBytes(id)] })) return decodeWireChunk(r.chunk, id);
  throw new Error(`readChunks ${id} returned nothing`);
}

async function missingOf(set: string, ids: readonly ChunkId[]): Promise<ChunkId[]> {
  const res = await agent.findMissingChunks({ set, ids: ids.map((id) => chunkIdToBytes(id)) });
  return res.missingIndexes.map((i) => ids[i]!);
}

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha', env: { HAVEN_PACK_SIZE_BYTES: String(PACK_SIZE) } });
  admin = ctl.connect().client(AdminService);
  host = await enrollTestHost(ctl, 'web-1');
  agent = host.agent();
  uploader = createChunkUploader(uplinkFromClient(agent));
  await admin.createSet({ spec: { name: 'ret', host: 'web-1', source: { case: 'path', value: '/srv/ret' }, retention: 'last:2' } });
  await admin.createSet({ spec: { name: 'keep', host: 'web-1', source: { case: 'path', value: '/srv/keep' } } });
  for (const [i, batch] of retBatches.entries()) expect(await commitRet(batch)).toBe(i + 1);
  const k = await commitBatch(agent, uploader, 'keep', { id: 'k1', deletes: [], puts: [{ path: 'x-copy.bin', content: c.x }] });
  expect(k.seq).toBe(1);
}, 120_000);

afterAll(async () => {
  host?.close();
  await ctl?.stop();
  removeTempDirs();
});

describe(`retention and gc (seed ${SEED})`, () => {
  const all = chunksOf(...Object.values(c));
  const kept = chunksOf(c.u3, c.s, c.c4, c.x);
  const garbage = [...all.keys()].filter((id) => !kept.has(id)).sort();
  const shared = [...chunksOf(c.u1).keys()].filter((id) => kept.has(id)).sort();
  const garbageBytes = garbage.reduce((n, id) => n + all.get(id)!, 0);
  let before = { chunks: 0n, bytes: 0n };

  it('prune --dry-run reports what it would drop and changes nothing', async () => {
    expect(shared.length).toBeGreaterThan(0);
    expect(garbage.length).toBeGreaterThan(0);
    const healthy = await runVerify(admin);
    expect(healthy.damagedChunks).toBe(0n);
    // Every stored chunk is one the writes above produced: the accounting below is exact.
    expect(healthy.chunksChecked).toBe(BigInt(all.size));
    before = { chunks: healthy.chunksChecked, bytes: healthy.bytesChecked };

    const dry = await runPrune(admin, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    const r = dry.sets.find((s) => s.set === 'ret');
    expect(r).toMatchObject({ pointsKept: 2n, pointsDropped: 2n, versionsDropped: 4n });
    expect(r?.bytesDropped).toBe(BigInt(c.u1.length + c.u2.length + c.small.length + c.x.length));
    expect(r?.decisions.map((d) => [Number(d.seqFrom), Number(d.seqTo), d.kept])).toEqual([
      [1, 1, false],
      [2, 2, false],
      [3, 3, true],
      [4, 4, true],
    ]);
    expect(dry.sets.find((s) => s.set === 'keep')).toMatchObject({ pointsDropped: 0n, versionsDropped: 0n });

    expect(await pointSeqs('ret')).toEqual([1, 2, 3, 4]);
    for (const [seq, tree] of ret) await expectPoint(admin, 'ret', seq, tree);
    // Nothing was dropped, so nothing is garbage: gc must find every chunk live.
    const gc = await runGc(admin);
    expect(gc.chunksSwept).toBe(0n);
    expect((await runVerify(admin)).chunksChecked).toBe(before.chunks);
  });

  it('prune drops the points, then gc removes exactly the chunks only they used', async () => {
    const pruned = await runPrune(admin, { dryRun: false, set: 'ret' });
    expect(pruned.dryRun).toBe(false);
    expect(pruned.sets).toHaveLength(1);
    expect(pruned.sets[0]).toMatchObject({ set: 'ret', pointsKept: 2n, pointsDropped: 2n, versionsDropped: 4n });
    expect(await pointSeqs('ret')).toEqual([3, 4]);
    expect((await failureOf(readFileBytes(admin, 'ret', 'a.bin', 1))).code).toBe('NOT_FOUND');
    ret.delete(1);
    ret.delete(2);

    // An agent offers u2 again before gc: its chunks are still stored, so find-missing says
    // "present" and nothing is sent. The commit comes only after gc (below).
    const early = await sendContent(uploader, 'ret', bytesOf(c.u2));
    expect(early.stats.sent).toBe(0);

    const gc = await runGc(admin);
    expect(gc.chunksSwept).toBe(BigInt(garbage.length));
    expect(gc.chunksMarked).toBe(BigInt(kept.size));
    expect(gc.packsDeleted).toBeGreaterThan(0n);
    expect(gc.bytesFreed).toBeGreaterThan(0n);

    for (const id of garbage) expect((await failureOf(readChunk('ret', id))).code, id).toBe('NOT_FOUND');
    for (const id of [...shared, ...contentChunks(c.x).all]) expect(chunkIdOf(await readChunk('ret', id)), id).toBe(id);
    expect(await missingOf('ret', [...garbage, ...shared])).toEqual(garbage);
    const after = await runVerify(admin);
    expect(after.damagedChunks).toBe(0n);
    expect(after.chunksChecked).toBe(before.chunks - BigInt(garbage.length));
    expect(after.bytesChecked).toBe(before.bytes - BigInt(garbageBytes));
    for (const [seq, tree] of ret) await expectPoint(admin, 'ret', seq, tree);
    await expectPoint(admin, 'keep', 1, new Map([['x-copy.bin', c.x]]));

    // The commit that relied on that stale "present" is refused, not acked with missing data;
    // the agent uploads again and commits.
    const stale = await failureOf(
      agent.commit({
        set: 'ret',
        epoch: 1n,
        batchId: 'r5',
        changes: [{ path: 'again.bin', type: EntryType.FILE, mode: 0o644, size: BigInt(c.u2.length), contentRoot: chunkIdToBytes(early.contentRoot) }],
      }),
    );
    expect(stale.code).toBe('FAILED_PRECONDITION');
    const u2 = contentChunks(c.u2).all;
    expect(stale.details['missing']?.split(',').every((id) => u2.has(id)), stale.details['missing']).toBe(true);
    const r5: Batch = { id: 'r5', deletes: [], puts: [{ path: 'again.bin', content: c.u2 }] };
    const again = await commitBatch(agent, uploader, 'ret', r5);
    expect(again.sentChunks).toBe(u2.size);
    head = applyBatch(head, r5);
    ret.set(again.seq, head);
    expect(again.seq).toBe(5);
    await expectPoint(admin, 'ret', 5, head);
  });

  it('commits that run while gc runs lose nothing, even when they deduplicate against garbage', async () => {
    // Garbage for this round: versions that live only at points 6..7, which last:2 drops.
    const pool = Array.from({ length: 6 }, () => rnd.bytes(rnd.int(256 * KiB, 2 * MiB)));
    await commitRet({ id: 'g6', deletes: [], puts: pool.map((content, i) => ({ path: `pool-${i}.bin`, content })) });
    await commitRet({ id: 'g7', deletes: pool.map((_, i) => `pool-${i}.bin`), puts: [] });
    await commitRet({ id: 'g8', deletes: [], puts: [{ path: 'n8.txt', content: rnd.bytes(10 * KiB) }] });
    await commitRet({ id: 'g9', deletes: [], puts: [{ path: 'n9.txt', content: rnd.bytes(10 * KiB) }] });
    const pruned = await runPrune(admin, { dryRun: false, set: 'ret' });
    expect(pruned.sets[0]).toMatchObject({ pointsDropped: 5n, versionsDropped: 6n });
    for (const seq of [...ret.keys()]) if (seq < 8) ret.delete(seq);
    expect(await pointSeqs('ret')).toEqual([8, 9]);

    // The writer: every batch re-uses one dropped pool content (find-missing may say "present"
    // for chunks the running gc is about to sweep), adds unique content, and sometimes content
    // of a kept version; it deletes its files from two batches back.
    const writerAgent = host.agent();
    const writerUploader = createChunkUploader(uplinkFromClient(writerAgent));
    const spans: Array<{ start: number; end: number }> = [];
    const gcSpans: Array<{ start: number; end: number }> = [];
    let stop = false;
    let refusals = 0;
    /** Starts the next gc when a batch begun after `after` reaches `phase`. */
    let trigger: { phase: BatchPhase; after: number; fire: () => void } | undefined;
    const writer = (async () => {
      for (let n = 0; !stop || n < 2; n++) {
        const batch: Batch = {
          id: `w${n}`,
          deletes: [
            ...(n >= 2 ? [`w-${n - 2}-pool.bin`, `w-${n - 2}-new.bin`] : []),
            ...(n >= 3 && n % 3 === 0 ? [`w-kept-${n - 3}.bin`] : []),
          ],
          puts: [
            { path: `w-${n}-pool.bin`, content: pool[n % pool.length]! },
            { path: `w-${n}-new.bin`, content: rnd.bytes(rnd.int(64 * KiB, MiB)) },
            ...(n % 3 === 0 ? [{ path: `w-kept-${n}.bin`, content: c.s }] : []),
          ],
        };
        const start = performance.now();
        const out = await commitBatch(writerAgent, writerUploader, 'ret', batch, (phase) => {
          if (trigger === undefined || trigger.phase !== phase || start <= trigger.after) return;
          trigger.fire();
          trigger = undefined;
        });
        spans.push({ start, end: performance.now() });
        refusals += out.refusals;
        head = applyBatch(head, batch);
        ret.set(out.seq, head);
      }
    })();
    writer.catch(() => undefined);

    // Each gc starts while a batch is in flight, alternately as it starts uploading (its
    // find-missing may call garbage "present" just before the mark) and as it commits (its
    // chunk check races the mark). One gc per batch at most: a gc that begins between a
    // batch's find-missing and its commit sweeps what the batch has not committed yet, the
    // commit is refused and the writer uploads again, so back-to-back gcs could starve it.
    for (let run = 0; run < GC_RUNS; run++) {
      const after = gcSpans.at(-1)?.end ?? 0;
      const phase: BatchPhase = run % 2 === 0 ? 'commit' : 'upload';
      await Promise.race([new Promise<void>((fire) => (trigger = { phase, after, fire })), writer]);
      const start = performance.now();
      const gc = await runGc(admin);
      gcSpans.push({ start, end: performance.now() });
      if (run === 0) expect(gc.chunksSwept, 'the first gc sweeps the dropped pool versions').toBeGreaterThan(0n);
    }
    stop = true;
    await writer;
    const overlapping = spans.filter((s) => gcSpans.some((g) => s.start < g.end && g.start < s.end)).length;
    expect(overlapping, `${spans.length} commits (${refusals} refused once), ${GC_RUNS} gc runs`).toBeGreaterThanOrEqual(GC_RUNS);

    // Every point of the set reads back exactly: listing at each point, and every file.
    expect(await pointSeqs('ret')).toEqual([...ret.keys()].sort((a, b) => a - b));
    await expectAllPoints();
    const report = await runVerify(admin);
    expect(report.damagedChunks).toBe(0n);
    expect(report.damagedFiles).toEqual([]);

    // And once more after a gc with no writer running: nothing live was left unmarked.
    await runGc(admin);
    expect((await runVerify(admin)).damagedChunks).toBe(0n);
    await expectAllPoints();
  });

  it('keeps the chunks of an upload still in progress through a gc with the default grace', async () => {
    await admin.createSet({ spec: { name: 'grace', host: 'web-1', source: { case: 'path', value: '/srv/grace' } } });
    // Uploaded, not committed yet: unreferenced, but recent.
    const pending = rnd.bytes(3 * MiB);
    const sent = await sendContent(uploader, 'grace', bytesOf(pending));
    expect(sent.stats.sent).toBeGreaterThan(1);
    const ids = [...contentChunks(pending).all];
    // The first gc leaves them alone as not yet synced, and syncs them as it ends; the
    // second finds them stored, unreferenced, and touched within the grace.
    await runGc(admin, { grace: 0 });
    await runGc(admin, { grace: 'default' });
    expect(await missingOf('grace', ids)).toEqual([]);
    const { seq } = await agent.commit({
      set: 'grace',
      epoch: 1n,
      batchId: 'g1',
      changes: [{ path: 'big.bin', type: EntryType.FILE, mode: 0o644, size: BigInt(pending.length), contentRoot: chunkIdToBytes(sent.contentRoot) }],
    });
    expect((await readFileBytes(admin, 'grace', 'big.bin', Number(seq))).equals(pending)).toBe(true);

    // Without the grace, an upload nobody committed is garbage like any other.
    const abandoned = rnd.bytes(2 * MiB);
    await sendContent(uploader, 'grace', bytesOf(abandoned));
    const gone = [...contentChunks(abandoned).all];
    // Chunks not yet synced are left to the next gc (it syncs them at the end of this one).
    await runGc(admin, { grace: 0 });
    await runGc(admin, { grace: 0 });
    expect((await missingOf('grace', gone)).sort()).toEqual([...gone].sort());
    expect((await readFileBytes(admin, 'grace', 'big.bin', Number(seq))).equals(pending)).toBe(true);
  });
});

/** Listing at every point, and each file's bytes at every point. */
async function expectAllPoints(): Promise<void> {
  for (const [seq, tree] of ret) {
    await expectTreeAt(admin, 'ret', seq, tree);
    for (const [path, content] of tree) await expectContentAt(admin, 'ret', seq, path, content);
  }
}
