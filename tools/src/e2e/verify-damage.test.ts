import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkIdFromBytes } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { AdminService } from '@haven/proto';
import { createChunkUploader, uplinkFromClient } from '@haven/agent';
import { enrollTestHost, removeTempDirs, startControllerProcess } from '@haven/testing';
import type { ControllerProcess, TestHost } from '@haven/testing';
import { applyBatch, commitBatch } from './test-support/commit-batch.js';
import type { Batch } from './test-support/commit-batch.js';
import { contentChunks } from './test-support/content-chunks.js';
import { expectContentAt, expectPoint, expectTreeAt, readFileBytes } from './test-support/read-back.js';
import type { AdminClient, ExpectedTree } from './test-support/read-back.js';
import { failureOf } from './test-support/failure-of.js';
import { runVerify } from './test-support/run-job.js';
import { createSeededRandom } from './test-support/seeded-random.js';

/*
 * Acceptance: one flipped byte inside one chunk's ciphertext in a sealed pack. Verify names
 * exactly that chunk, exactly the file versions that reference it and the points they cover;
 * reading a damaged version fails with CORRUPT while everything else still reads.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small packs, so the chunk we damage sits in a pack that sealed long before the damage. */
const PACK_SIZE = 2 * MiB;
/** Record layout (pack-record.ts): 64-byte header, ciphertext, 16-byte GCM tag. */
const RECORD_HEADER = 64;
const RECORD_TAG = 16;

const rnd = createSeededRandom(0x0da_a6e);
// P is longer than FastCDC's 4 MiB maximum, so its first chunk ends inside P whatever follows:
// files that start with P share that chunk, and it is the one we damage.
const P = rnd.bytes(5 * MiB);
const content = {
  pa: Buffer.concat([P, rnd.bytes(300 * KiB)]),
  pb: Buffer.concat([P, rnd.bytes(400 * KiB)]),
  pk: Buffer.concat([P, rnd.bytes(100 * KiB)]),
  a2: rnd.bytes(700 * KiB),
  g2: rnd.bytes(600 * KiB),
  c: rnd.bytes(5000),
  d: rnd.bytes(1536 * KiB),
  f: rnd.bytes(200 * KiB),
  i: rnd.bytes(20 * KiB),
  other: rnd.bytes(MiB),
};

/*
 * Versions that need the damaged chunk: a.bin@[1,2) and b.bin@[1,3), then the same two
 * contents with the roles swapped, g.bin@[4,5) (pb) and h.bin@[4,6) (pa), then k.bin@[7,-).
 * Damaged points: 1-2, 4-5 and 7; points 3 and 6 hold none of them. Two versions of different
 * length start at 1 and at 4, one pair in each content-root order, so a report that lets one
 * version's range replace another's (instead of merging them) shows in one of the pairs.
 */
const batches: Batch[] = [
  {
    id: 'd1',
    deletes: [],
    puts: [
      { path: 'a.bin', content: content.pa },
      { path: 'b.bin', content: content.pb },
      { path: 'c.txt', content: content.c },
      { path: 'd.bin', content: content.d },
    ],
  },
  // e.txt has c.txt's content: the same root, undamaged.
  { id: 'd2', deletes: [], puts: [{ path: 'a.bin', content: content.a2 }, { path: 'e.txt', content: content.c }] },
  { id: 'd3', deletes: ['b.bin'], puts: [{ path: 'f.bin', content: content.f }] },
  // d.bin is renamed to d2.bin.
  { id: 'd4', deletes: ['d.bin'], puts: [{ path: 'g.bin', content: content.pb }, { path: 'h.bin', content: content.pa }, { path: 'd2.bin', content: content.d }] },
  { id: 'd5', deletes: [], puts: [{ path: 'g.bin', content: content.g2 }] },
  { id: 'd6', deletes: ['h.bin'], puts: [{ path: 'i.txt', content: content.i }] },
  { id: 'd7', deletes: [], puts: [{ path: 'k.bin', content: content.pk }] },
];
const DAMAGED_VERSIONS = ['docs:a.bin:1-2', 'docs:b.bin:1-3', 'docs:g.bin:4-5', 'docs:h.bin:4-6', 'docs:k.bin:7-0'];
const DAMAGED_POINTS = ['docs:1-2', 'docs:4-5', 'docs:7-7'];

let ctl: ControllerProcess;
let web: TestHost;
let db: TestHost;
let admin: AdminClient;
const trees: ExpectedTree[] = [new Map()];

function connectAdmin(): AdminClient {
  return ctl.connect().client(AdminService);
}


/** Flips one byte in the middle of `id`'s ciphertext, found through the store's index. */
function damageChunk(dataDir: string, id: ChunkId): { pack: string; sealed: boolean } {
  const chunksDir = join(dataDir, 'chunks');
  const index = new Database(join(chunksDir, 'index.sqlite'), { fileMustExist: true });
  let row: { pack: number; pos: number; length: number; sealed: number } | undefined;
  try {
    row = index
      .prepare<[Buffer], { pack: number; pos: number; length: number; sealed: number }>(
        'SELECT c.pack, c.pos, c.length, p.sealed FROM chunks c JOIN packs p ON p.id = c.pack WHERE c.id = ?',
      )
      .get(Buffer.from(id, 'hex'));
  } finally {
    index.close();
  }
  if (row === undefined) throw new Error(`chunk ${id} is not in the store index`);
  const pack = `${row.pack.toString(16).padStart(16, '0')}.pack`;
  const fd = openSync(join(chunksDir, 'packs', pack), 'r+');
  try {
    const header = Buffer.alloc(RECORD_HEADER);
    readSync(fd, header, 0, RECORD_HEADER, row.pos);
    // The index points at this chunk's record: magic "HVCR", then the id in the clear.
    expect(header.subarray(0, 4).toString('latin1')).toBe('HVCR');
    expect(header.subarray(8, 40).toString('hex')).toBe(id);
    const at = row.pos + RECORD_HEADER + Math.floor((row.length - RECORD_HEADER - RECORD_TAG) / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x01;
    writeSync(fd, byte, 0, 1, at);
  } finally {
    closeSync(fd);
  }
  return { pack, sealed: row.sealed === 1 };
}

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha', env: { HAVEN_PACK_SIZE_BYTES: String(PACK_SIZE) } });
  admin = connectAdmin();
  web = await enrollTestHost(ctl, 'web-1');
  db = await enrollTestHost(ctl, 'db-1');
  await admin.createSet({ spec: { name: 'docs', host: 'web-1', source: { case: 'path', value: '/srv/docs' } } });
  await admin.createSet({ spec: { name: 'other', host: 'db-1', source: { case: 'path', value: '/srv/other' } } });
  const agent = web.agent();
  const uploader = createChunkUploader(uplinkFromClient(agent));
  for (const [i, batch] of batches.entries()) {
    const out = await commitBatch(agent, uploader, 'docs', batch);
    expect(out.seq).toBe(i + 1);
    trees.push(applyBatch(trees[i]!, batch));
  }
  const otherAgent = db.agent();
  const o = await commitBatch(otherAgent, createChunkUploader(uplinkFromClient(otherAgent)), 'other', {
    id: 'o1',
    deletes: [],
    puts: [{ path: 'o.bin', content: content.other }],
  });
  expect(o.seq).toBe(1);
}, 120_000);

afterAll(async () => {
  web?.close();
  db?.close();
  await ctl?.stop();
  removeTempDirs();
});

describe('verify finds one damaged chunk in a sealed pack', () => {
  it('names the chunk, exactly the file versions and points that need it, and fails only those reads', async () => {
    const chunks = Object.fromEntries(Object.entries(content).map(([k, v]) => [k, contentChunks(v)]));
    const target = chunks['pa']!.data[0]!;
    for (const k of ['pa', 'pb', 'pk']) expect(chunks[k]!.data, k).toContain(target);
    for (const k of ['a2', 'g2', 'c', 'd', 'f', 'i', 'other']) expect(chunks[k]!.all.has(target), k).toBe(false);

    const healthy = await runVerify(admin);
    expect(healthy.damagedChunks).toBe(0n);
    expect(healthy.chunksChecked).toBeGreaterThan(0n);

    await ctl.stop();
    const damaged = damageChunk(ctl.dataDir, target);
    expect(damaged.sealed, `${damaged.pack} holds the chunk and must be sealed`).toBe(true);
    await ctl.restart();
    admin = connectAdmin();

    const report = await runVerify(admin);
    expect(report.chunksChecked).toBe(healthy.chunksChecked);
    expect(report.damagedChunks).toBe(1n);
    expect(report.damagedChunkIds.map((b) => chunkIdFromBytes(b))).toEqual([target]);
    // seqTo is the exclusive end of the version's interval, 0 while it is current.
    const files = report.damagedFiles.map((f) => `${f.set}:${f.path}:${f.seqFrom}-${f.seqTo}`).sort();
    expect(files).toEqual(DAMAGED_VERSIONS);
    // Maximal runs of damaged points, inclusive.
    const points = report.damagedPoints.map((p) => `${p.set}:${p.seqFrom}-${p.seqTo}`).sort();
    expect(points).toEqual(DAMAGED_POINTS);
    const branches = new Set(report.damagedPoints.map((p) => p.branch));
    const mainBranch = (await admin.listPoints({ set: 'docs' })).points[0]?.branch;
    expect([...branches]).toEqual([mainBranch]);

    // Reading a damaged version fails as damage, not as a missing file or an internal error.
    const damagedAt = new Set(['a.bin@1', 'b.bin@1', 'b.bin@2', 'g.bin@4', 'h.bin@4', 'h.bin@5', 'k.bin@7']);
    for (const at of damagedAt) {
      const [path, seq] = at.split('@') as [string, string];
      const err = await failureOf(readFileBytes(admin, 'docs', path, Number(seq)));
      expect(err.code, at).toBe('CORRUPT');
    }
    // The listing is intact at every point (damage is in the data, not the catalog), and every
    // other file reads back exactly, in both sets.
    for (let seq = 1; seq < trees.length; seq++) {
      await expectTreeAt(admin, 'docs', seq, trees[seq]!);
      for (const [path, bytes] of trees[seq]!) {
        if (!damagedAt.has(`${path}@${seq}`)) await expectContentAt(admin, 'docs', seq, path, bytes);
      }
    }
    await expectPoint(admin, 'other', 1, new Map([['o.bin', content.other]]));

    // Verifying one set reads only the chunks it holds and names only its damage.
    const docs = await runVerify(admin, { set: 'docs' });
    expect(docs.damagedChunkIds.map((b) => chunkIdFromBytes(b))).toEqual([target]);
    expect(docs.damagedFiles.map((f) => `${f.set}:${f.path}:${f.seqFrom}-${f.seqTo}`).sort()).toEqual(DAMAGED_VERSIONS);
    const other = await runVerify(admin, { set: 'other' });
    expect(other.damagedChunks).toBe(0n);
    expect(other.damagedFiles).toEqual([]);
    // Exactly the chunks of its one file (data and list chunks), out of the whole store.
    expect(other.chunksChecked).toBe(BigInt(contentChunks(content.other).all.size));
    expect(other.chunksChecked).toBeLessThan(report.chunksChecked);
  });
});
