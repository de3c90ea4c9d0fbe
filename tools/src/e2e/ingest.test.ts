import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';
import { HavenError, chunkIdOf, chunkIdToBytes } from '@haven/core';
import { AdminService, Compression, EntryType, JobState } from '@haven/proto';
import type { Client } from '@haven/proto';
import { createChunkSink, createChunkUploader, createContentSender, sendContent, uplinkFromClient } from '@haven/agent';
import { decodeWireChunk } from '@haven/restore';
import { enrollTestHost, removeTempDirs, startControllerProcess } from '@haven/testing';
import type { ControllerProcess, TestHost } from '@haven/testing';

let ctl: ControllerProcess;
let host: TestHost;
let other: TestHost;
let admin: Client<typeof AdminService>;

async function* bytesOf(buf: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < buf.length; o += 1 << 20) yield buf.slice(o, o + (1 << 20));
}

async function readFile(set: string, path: string, seq?: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const r of admin.readFile({ set, path, point: seq === undefined ? { point: { case: 'latest', value: true } } : { point: { case: 'seq', value: BigInt(seq) } } })) parts.push(r.data);
  return Buffer.concat(parts);
}

async function failure(p: Promise<unknown>): Promise<HavenError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HavenError);
  return e as HavenError;
}

beforeAll(async () => {
  ctl = await startControllerProcess({ site: 'alpha' });
  admin = ctl.connect().client(AdminService);
  host = await enrollTestHost(ctl, 'web-1');
  other = await enrollTestHost(ctl, 'web-2');
  await admin.createSet({ spec: { name: 'docs', host: 'web-1', source: { case: 'path', value: '/srv/docs' } } });
  await admin.createSet({ spec: { name: 'other', host: 'web-2', source: { case: 'path', value: '/srv/other' } } });
});

afterAll(async () => {
  host?.close();
  other?.close();
  await ctl?.stop();
  removeTempDirs();
});

describe('ingest over loopback gRPC', () => {
  it('uploads only missing chunks, commits, and reads back every version', async () => {
    const agent = host.agent();
    const uploader = createChunkUploader(uplinkFromClient(agent));
    const big = randomBytes(5 * 1024 * 1024);
    const first = await sendContent(uploader, 'docs', bytesOf(big));
    expect(first.stats.sent).toBeGreaterThan(1);
    const c1 = await agent.commit({
      set: 'docs',
      epoch: 1n,
      batchId: 'b1',
      changes: [
        { path: 'big.bin', type: EntryType.FILE, mode: 0o644, size: BigInt(big.length), contentRoot: chunkIdToBytes(first.contentRoot) },
        { path: 'sub', type: EntryType.DIR, mode: 0o755 },
        { path: 'sub/link', type: EntryType.SYMLINK, mode: 0o777, symlinkTarget: '../big.bin' },
      ],
    });
    expect(c1.seq).toBe(1n);
    // Same content again: nothing is sent (dedup), a new version still commits.
    const again = await sendContent(uploader, 'docs', bytesOf(big));
    expect(again.stats.sent).toBe(0);
    const edited = Buffer.from(big);
    edited.write('edited', 3 * 1024 * 1024);
    const third = await sendContent(uploader, 'docs', bytesOf(edited));
    expect(third.stats.sent).toBeLessThan(first.stats.sent);
    const c2 = await agent.commit({
      set: 'docs',
      epoch: 1n,
      batchId: 'b2',
      changes: [{ path: 'big.bin', type: EntryType.FILE, mode: 0o600, size: BigInt(edited.length), contentRoot: chunkIdToBytes(third.contentRoot) }],
    });
    expect(c2.seq).toBe(2n);
    expect((await readFile('docs', 'big.bin', 1)).equals(big)).toBe(true);
    expect((await readFile('docs', 'big.bin', 2)).equals(edited)).toBe(true);
    const points = await admin.listPoints({ set: 'docs' });
    expect(points.points.map((p) => p.seq)).toEqual([1n, 2n]);
    const entries = [];
    for await (const r of admin.listFiles({ set: 'docs', recursive: true, point: { point: { case: 'seq', value: 1n } } })) entries.push(...r.entries);
    expect(entries.map((e) => [e.path, e.type])).toEqual([
      ['big.bin', EntryType.FILE],
      ['sub', EntryType.DIR],
      ['sub/link', EntryType.SYMLINK],
    ]);
    // A retried batch returns the original seq.
    const dup = await agent.commit({ set: 'docs', epoch: 1n, batchId: 'b2', changes: [] });
    expect(dup).toMatchObject({ seq: 2n, duplicate: true });
  });

  it('refuses a chunk whose content does not match its id, storing nothing', async () => {
    const agent = host.agent();
    const real = randomBytes(1000);
    const claimed = chunkIdOf(randomBytes(1000));
    async function* reqs() {
      yield { msg: { case: 'open' as const, value: { set: 'docs' } } };
      yield { msg: { case: 'chunk' as const, value: { id: chunkIdToBytes(claimed), compression: Compression.NONE, data: real, rawLength: real.length } } };
      await new Promise((r) => setTimeout(r, 2000));
    }
    const err = await failure(
      (async () => {
        for await (const _ of agent.uploadChunks(reqs())) void _;
      })(),
    );
    expect(err.code).toBe('CORRUPT');
    const missing = await agent.findMissingChunks({ set: 'docs', ids: [chunkIdToBytes(claimed)] });
    expect(missing.missingIndexes).toEqual([0]);
  });

  it('verifies zstd chunks: bad frames are refused, good ones of any size are stored exactly', async () => {
    const agent = host.agent();
    const download = async (want: Buffer[]): Promise<Buffer[]> => {
      const back: Buffer[] = [];
      const ids = want.map((g) => chunkIdOf(g));
      for await (const r of agent.downloadChunks({ set: 'docs', ids: ids.map((id) => chunkIdToBytes(id)) })) back.push(Buffer.from(decodeWireChunk(r.chunk, ids[back.length]!)));
      return back;
    };
    const upload = async (chunks: Array<{ id: string; data: Uint8Array; rawLength: number }>): Promise<void> => {
      async function* reqs() {
        yield { msg: { case: 'open' as const, value: { set: 'docs' } } };
        for (const c of chunks) yield { msg: { case: 'chunk' as const, value: { id: chunkIdToBytes(c.id), compression: Compression.ZSTD, data: c.data, rawLength: c.rawLength } } };
      }
      let acked = 0n;
      for await (const r of agent.uploadChunks(reqs())) if (r.msg.case === 'ack') acked = r.msg.value.chunks;
      expect(acked).toBe(BigInt(chunks.length));
    };
    const text = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => `${seed}:${i % 977} `).join('').slice(0, n));
    const a = text(300_000, 1);
    const b = text(300_000, 2);
    const refused = [
      // A good frame of other bytes of the same length.
      { id: chunkIdOf(a), data: compress(b), rawLength: a.length },
      // A frame that declares another length than raw_length.
      { id: chunkIdOf(a), data: compress(a.subarray(1)), rawLength: a.length },
      // A second frame after the first: more bytes than declared.
      { id: chunkIdOf(a), data: Buffer.concat([compress(a), compress(b)]), rawLength: a.length },
    ];
    for (const bad of refused) expect((await failure(upload([bad]))).code).toBe('CORRUPT');
    expect((await agent.findMissingChunks({ set: 'docs', ids: [chunkIdToBytes(chunkIdOf(a))] })).missingIndexes).toEqual([0]);
    // Large then small then large: each is verified and stored on its own, whatever came before.
    const good = [text(2_000_000, 3), text(1000, 4), text(1_500_000, 5)];
    await upload(good.map((g) => ({ id: chunkIdOf(g), data: compress(g), rawLength: g.length })));
    expect((await download(good)).map((x, i) => x.equals(good[i]!))).toEqual([true, true, true]);
    // The agent's uploader, compressing on its worker thread: compressible chunks go as zstd,
    // random ones raw, and all come back exact.
    const chunks = [text(900_000, 6), randomBytes(700_000), text(3_000, 7), text(2_500_000, 8)];
    const stats = await createChunkUploader(uplinkFromClient(agent), { compressInWorker: true }).upload(
      'docs',
      chunks.map((raw) => ({ id: chunkIdOf(raw), raw })),
    );
    expect(stats.sent).toBe(4);
    expect(stats.sentBytes).toBeLessThan(700_000 + 200_000);
    expect((await download(chunks)).map((x, i) => x.equals(chunks[i]!))).toEqual([true, true, true, true]);
  });

  it('uploads one round while gathering the next: repeats are not resent, all of it commits and reads back', async () => {
    const agent = host.agent();
    const uploader = createChunkUploader(uplinkFromClient(agent));
    // Rounds of 1 MiB, so these 12 MiB take many rounds with one always in flight.
    const sink = createChunkSink(uploader, 'docs', { roundBytes: 1 << 20 });
    const files = [randomBytes(3 << 20), randomBytes(3 << 20), randomBytes(3 << 20)];
    files.push(files[0]!);
    // Four files cut at once into one sink, as the set worker prepares a batch.
    const sent = await Promise.all(
      files.map(async (bytes) => {
        const sender = createContentSender(sink);
        for await (const b of bytesOf(bytes)) await sender.push(b);
        return sender.finish();
      }),
    );
    await sink.flush();
    // The repeated file went once: raw bytes sent are the 9 MiB of distinct data plus list chunks.
    expect(sink.stats.rawBytes).toBeGreaterThanOrEqual(9 << 20);
    expect(sink.stats.rawBytes).toBeLessThan((9 << 20) + 64 * 1024);
    const changes = sent.map((c, i) => ({ path: `rounds/f${i}`, type: EntryType.FILE, mode: 0o644, size: BigInt(c.size), contentRoot: chunkIdToBytes(c.contentRoot) }));
    const { seq } = await agent.commit({ set: 'docs', epoch: 1n, batchId: 'sink-rounds', changes: [{ path: 'rounds', type: EntryType.DIR, mode: 0o755 }, ...changes] });
    for (const [i, f] of files.entries()) expect((await readFile('docs', `rounds/f${i}`, Number(seq))).equals(f)).toBe(true);

    // A round the controller refuses fails the sink: flush and every later add.
    const refused = createChunkSink(uploader, 'other', { roundBytes: 1 << 20 });
    const sender = createContentSender(refused);
    const pushed = (async () => {
      for await (const b of bytesOf(randomBytes(4 << 20))) await sender.push(b);
      await sender.finish();
      await refused.flush();
    })();
    const code = (await failure(pushed)).code;
    expect(['PERMISSION_DENIED', 'NOT_FOUND']).toContain(code);
    expect((await failure(refused.add({ id: chunkIdOf(Buffer.from('x')), raw: Buffer.from('x') }))).code).toBe(code);
  });

  it('refuses commits that reference chunks the set never uploaded, unadopted epochs, and foreign sets', async () => {
    const agent = host.agent();
    const ghost = chunkIdOf(Buffer.from('never uploaded'));
    const e1 = await failure(agent.commit({ set: 'docs', epoch: 1n, batchId: 'ghost', changes: [{ path: 'g', type: EntryType.FILE, size: 1n, contentRoot: chunkIdToBytes(ghost) }] }));
    expect(e1.code).toBe('FAILED_PRECONDITION');
    expect(e1.details['missing']).toContain(ghost);
    // Epochs are fencing tokens: one the set has not adopted is refused (stale ones are FENCED,
    // covered by the catalog contract; failover makes them in end-to-end tests).
    const e2 = await failure(agent.commit({ set: 'docs', epoch: 2n, batchId: 'future', changes: [] }));
    expect(e2.code).toBe('FAILED_PRECONDITION');
    const e3 = await failure(other.agent().commit({ set: 'docs', epoch: 1n, batchId: 'x', changes: [] }));
    expect(e3.code).toBe('PERMISSION_DENIED');
    // Another host cannot learn that docs' chunks exist, nor claim them in its own set.
    const up = createChunkUploader(uplinkFromClient(host.agent()));
    const secret = randomBytes(4096);
    const sent = await sendContent(up, 'docs', bytesOf(secret));
    const probe = await other.agent().findMissingChunks({ set: 'other', ids: [chunkIdToBytes(sent.contentRoot)] });
    expect(probe.missingIndexes).toEqual([0]);
    const e4 = await failure(other.agent().commit({ set: 'other', epoch: 1n, batchId: 'steal', changes: [{ path: 's', type: EntryType.FILE, size: 4096n, contentRoot: chunkIdToBytes(sent.contentRoot) }] }));
    expect(e4.code).toBe('FAILED_PRECONDITION');
  });

  it('rejects malformed input with INVALID_ARGUMENT and keeps serving', async () => {
    const agent = host.agent();
    const e1 = await failure(agent.findMissingChunks({ set: 'docs', ids: [new Uint8Array(5)] }));
    expect(e1.code).toBe('INVALID_ARGUMENT');
    const e2 = await failure(agent.commit({ set: 'docs', epoch: 1n, batchId: 'bad', changes: [{ path: '../../etc/passwd', type: EntryType.FILE, size: 1n, contentRoot: new Uint8Array(32) }] }));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    const e3 = await failure(admin.getSet({ name: 'nope' }));
    expect(e3.code).toBe('NOT_FOUND');
    expect((await admin.getSet({ name: 'docs' })).set?.name).toBe('docs');
  });

  it('runs verify as a job and reports no damage on a healthy store', async () => {
    const { job } = await admin.verify({});
    let last;
    for await (const r of admin.watchJob({ id: job!.id })) last = r.job;
    expect(last?.state).toBe(JobState.SUCCEEDED);
    const report = last?.result?.result.case === 'verify' ? last.result.result.value : undefined;
    expect(report?.chunksChecked).toBeGreaterThan(0n);
    expect(report?.damagedChunks).toBe(0n);
  });
});
