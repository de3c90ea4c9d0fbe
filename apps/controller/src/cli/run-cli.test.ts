import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { compress } from 'zstd-napi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContentRoot, chunkIdOf, chunkIdToBytes, createManualClock } from '@haven/core';
import type { ChunkId } from '@haven/core';
import { Compression, EntryType, JobKind, JobState, SetKind, SetState } from '@haven/proto';
import type { AdminServiceListFilesRequest, CreateSetRequest, FailoverRequest, JobResultSchema, JobSchema, ListSetsRequest, ProgressSchema, UpdateSetRequest } from '@haven/proto';
import { defineCommand } from './command.js';
import { allOptionSpecs, resolveCommand } from './registry.js';
import { runCli } from './run-cli.js';
import { startAdminStub } from './test-support/admin-stub.js';
import type { AdminStub, TestIo } from './test-support/admin-stub.js';

type JobInitShape = MessageInitShape<typeof JobSchema>;

const NOW = Date.parse('2026-03-01T12:00:00Z');
const clock = createManualClock(NOW);
const fileData = Buffer.from('hello from the catalog\n'.repeat(200));
const chunks = new Map<ChunkId, Uint8Array>();
let rootId: ChunkId;
/** Snapshots WatchJob streams per job id. */
const watches = new Map<string, JobInitShape[]>();
let stub: AdminStub;
let scratch: string;

interface JobExtra {
  progress?: MessageInitShape<typeof ProgressSchema>;
  result?: MessageInitShape<typeof JobResultSchema>;
}

function job(id: string, kind: JobKind, state: JobState, extra: JobExtra = {}): JobInitShape {
  return { id, kind, state, set: 'www', progress: { fraction: state === JobState.SUCCEEDED ? 1 : 0.4, doneUnits: 4n, totalUnits: 10n, unit: 'files' }, ...extra };
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'haven-cli-test-'));
  const refs = [];
  for (let at = 0; at < fileData.length; at += 1000) {
    const piece = fileData.subarray(at, at + 1000);
    chunks.set(chunkIdOf(piece), piece);
    refs.push({ id: chunkIdOf(piece), length: piece.length });
  }
  const root = buildContentRoot(refs);
  for (const c of root.listChunks) chunks.set(c.id, c.bytes);
  rootId = root.rootId;

  stub = await startAdminStub({
    getStatus: () => ({
      sites: [{ name: 'alpha', local: true, online: true, address: '127.0.0.1:7443', caFingerprint: 'ab'.repeat(32) }],
      hosts: [{ name: 'web1', online: true, lastSeenAt: timestampFromMs(NOW - 12_000), agentVersion: '0.1.0', sets: ['www'] }],
      sets: [
        {
          name: 'www',
          host: 'web1',
          kind: SetKind.FILES,
          state: SetState.CONTINUOUS,
          lagSeconds: 1.5,
          backlogBytes: 2048n,
          lastPoint: { seq: 42n, time: timestampFromMs(NOW - 60_000), epoch: 1n },
        },
      ],
      serverTime: timestampFromMs(NOW),
      version: '0.1.0',
    }),
    listSets: () => ({ sets: [] }),
    createSet: (req) => ({ set: { name: req.spec?.name ?? '' } }),
    updateSet: (req) => ({ set: { name: req.name } }),
    listFiles: async function* () {
      yield {
        point: { seq: 42n, time: timestampFromMs(NOW - 60_000), epoch: 1n },
        entries: [
          { path: 'docs', type: EntryType.DIR, mode: 0o755, mtime: timestampFromMs(NOW - 3_600_000) },
          { path: 'docs/readme.txt', type: EntryType.FILE, mode: 0o640, size: BigInt(fileData.length), contentRoot: chunkIdToBytes(rootId), mtime: timestampFromMs(NOW - 7_200_000) },
          { path: 'docs/latest', type: EntryType.SYMLINK, mode: 0o777, symlinkTarget: 'readme.txt' },
        ],
      };
    },
    readChunks: async function* (req) {
      for (const raw of req.ids) {
        const id = Buffer.from(raw).toString('hex');
        const data = chunks.get(id)!;
        const z = compress(data);
        yield z.length < data.length
          ? { chunk: { id: raw, compression: Compression.ZSTD, data: z, rawLength: data.length } }
          : { chunk: { id: raw, compression: Compression.NONE, data, rawLength: data.length } };
      }
    },
    failover: (req) => ({ job: job(`failover-${req.set}`, JobKind.FAILOVER, JobState.PENDING) }),
    verify: () => ({ job: job('verify-1', JobKind.VERIFY, JobState.PENDING) }),
    watchJob: async function* (req) {
      for (const snapshot of watches.get(req.id) ?? []) yield { job: snapshot };
    },
  });
  watches.set('failover-www', [
    job('failover-www', JobKind.FAILOVER, JobState.RUNNING, { progress: { fraction: 0.5, phase: 'materializing' } }),
    job('failover-www', JobKind.FAILOVER, JobState.SUCCEEDED, {
      result: { result: { case: 'failover', value: { epoch: 2n, seq: 42n, site: 'beta', host: 'web2', rto: { seconds: 3n, nanos: 250_000_000 }, planned: true } } },
    }),
  ]);
  watches.set('verify-1', [
    job('verify-1', JobKind.VERIFY, JobState.SUCCEEDED, {
      result: {
        result: {
          case: 'verify',
          value: {
            samplePercent: 100,
            chunksChecked: 10n,
            damagedChunks: 1n,
            damagedChunkIds: [chunkIdToBytes(rootId)],
            damagedFiles: [{ set: 'www', path: 'docs/readme.txt', seqFrom: 3n }],
            damagedPoints: [{ set: 'www', seqFrom: 3n, seqTo: 42n }],
          },
        },
      },
    }),
  ]);
});

afterAll(async () => {
  await stub.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function run(args: string[], io: TestIo = stub.io()): Promise<{ code: number; io: TestIo }> {
  return { code: await runCli(args, io, clock), io };
}

function lastCall<T>(method: string): T {
  const found = stub.calls.filter(([m]) => m === method).at(-1);
  if (found === undefined) throw new Error(`no ${method} call`);
  return found[1] as T;
}

describe('verb resolution', () => {
  it('finds the longest matching verb, bare groups, and refuses unknown verbs', () => {
    const r = resolveCommand(['set', 'create', 'www']);
    expect(r.kind === 'command' && r.command.path).toEqual(['set', 'create']);
    const c = resolveCommand(['checkpoint', 'www']);
    expect(c.kind === 'command' && c.command.path).toEqual(['checkpoint']);
    expect(resolveCommand(['job'])).toMatchObject({ kind: 'group', group: 'job' });
    expect(resolveCommand([])).toEqual({ kind: 'none' });
    expect(() => resolveCommand(['frobnicate'])).toThrow(/unknown command "frobnicate"/);
    expect(() => resolveCommand(['set', 'frob'])).toThrow(/unknown command "set frob"/);
  });

  it('gives every flag name one type across all verbs', () => {
    expect(() => allOptionSpecs()).not.toThrow();
    const a = defineCommand({ path: ['a'], summary: 'a', usage: '', args: [], options: { x: { type: 'string', description: 'x' } }, run: async () => 0 });
    const b = defineCommand({ path: ['b'], summary: 'b', usage: '', args: [], options: { x: { type: 'boolean', description: 'x' } }, run: async () => 0 });
    expect(() => allOptionSpecs([a, b])).toThrow(/--x/);
  });
});

describe('haven CLI against an Admin server', () => {
  it('accepts flags before and after the verb alike', async () => {
    const before = await run(['--json', 'set', 'list', '--host', 'web1']);
    expect(lastCall<ListSetsRequest>('listSets').host).toBe('web1');
    const after = await run(['set', '--host', 'web2', 'list', '--json']);
    expect(lastCall<ListSetsRequest>('listSets').host).toBe('web2');
    expect(before.code).toBe(0);
    expect(JSON.parse(before.io.out())).toEqual({ sets: [] });
    expect(after.io.out()).toBe(before.io.out());
  });

  it('uses --controller over the profile, before or after the verb', async () => {
    await expect(run(['--controller', '127.0.0.1:1', 'status'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect((await run(['status', '--controller', stub.server.address])).code).toBe(0);
    await expect(run(['status', '--controller', 'no-port'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects flags of other verbs and unknown flags, naming them, before calling anything', async () => {
    const calls = stub.calls.length;
    await expect(run(['status', '--host', 'x'])).rejects.toThrow(/unknown option --host for "haven status"/);
    await expect(run(['set', 'list', '--path', '/x'])).rejects.toThrow(/--path .*"haven set list"/);
    await expect(run(['ls', 'www', '-z'])).rejects.toThrow(/-z/);
    await expect(run(['ls'])).rejects.toThrow(/missing SET/);
    await expect(run(['set', 'show', 'a', 'b'])).rejects.toThrow(/unexpected argument "b"/);
    await expect(run(['frobnicate'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(stub.calls.length).toBe(calls);
  });

  it('prints status as tables and as canonical JSON', async () => {
    const human = await run(['status']);
    expect(human.io.out()).toMatch(/NAME\s+HOST\s+KIND\s+STATE\s+LAG\s+BACKLOG\s+LAST-POINT/);
    expect(human.io.out()).toMatch(/www\s+web1\s+files\s+CONTINUOUS\s+2s\s+2\.0 KiB\s+#42 2026-03-01T11:59:00Z/);
    expect(human.io.out()).toMatch(/web1\s+yes\s+12s ago/);
    const json = JSON.parse((await run(['status', '--json'])).io.out()) as { sets: Array<Record<string, unknown>> };
    expect(json.sets[0]).toMatchObject({ name: 'www', host: 'web1', kind: 'SET_KIND_FILES', state: 'SET_STATE_CONTINUOUS', lagSeconds: 1.5, backlogBytes: '2048', paused: false });
  });

  it('maps --at POINT to the PointSelector', async () => {
    const { io } = await run(['ls', 'www', 'docs', '--at', '42']);
    const req = lastCall<AdminServiceListFilesRequest>('listFiles');
    expect(req).toMatchObject({ set: 'www', path: 'docs', recursive: false });
    expect(req.point?.point).toEqual({ case: 'seq', value: 42n });
    expect(io.out()).toContain('point #42 2026-03-01T11:59:00Z');
    expect(io.out()).toMatch(/-rw-r-----\s+4\.5 KiB\s+2026-03-01T10:00:00Z\s+docs\/readme\.txt/);
    expect(io.out()).toContain('docs/latest -> readme.txt');

    await run(['ls', '--at', '2026-01-02T15:04:05.123456789+01:00', 'www', '-r']);
    const timed = lastCall<AdminServiceListFilesRequest>('listFiles');
    expect(timed.recursive).toBe(true);
    expect(timed.point?.point.case).toBe('time');
    expect(timed.point?.point.value).toMatchObject({ seconds: BigInt(Date.parse('2026-01-02T14:04:05Z') / 1000), nanos: 123_456_789 });

    await run(['ls', 'www', '--at', 'latest']);
    expect(lastCall<AdminServiceListFilesRequest>('listFiles').point?.point).toEqual({ case: 'latest', value: true });
    await run(['ls', 'www']);
    expect(lastCall<AdminServiceListFilesRequest>('listFiles').point).toBeUndefined();
    await expect(run(['ls', 'www', '--at', '0'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(run(['ls', 'www', '--at', '2026-01-02T15:04:05'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('builds set create specs, with --standby as [SITE/]HOST:TARGET', async () => {
    await run([
      'set', 'create', 'www', '--host', 'web1', '--path', '/srv/www', '--exclude', '*.tmp', '--exclude', 'cache/',
      '--replicate-to', 'beta', '--standby', 'beta/web2:/srv/standby', '--sync', '--retention', 'cdp 1d',
    ]);
    const spec = lastCall<CreateSetRequest>('createSet').spec;
    expect(spec).toMatchObject({
      name: 'www',
      host: 'web1',
      source: { case: 'path', value: '/srv/www' },
      excludes: ['*.tmp', 'cache/'],
      replicateTo: ['beta'],
      standby: { site: 'beta', host: 'web2', target: '/srv/standby' },
      sync: true,
      retention: 'cdp 1d',
    });
    await run(['set', 'create', 'db', '--host', 'db1', '--device', '/dev/vg0/data', '--standby', 'db2:/dev/vg1/data']);
    expect(lastCall<CreateSetRequest>('createSet').spec).toMatchObject({ source: { case: 'device', value: '/dev/vg0/data' }, standby: { site: '', host: 'db2', target: '/dev/vg1/data' } });

    const calls = stub.calls.length;
    const bad = [
      ['--path', '/a', '--device', '/dev/x'],
      ['--path', 'relative'],
      ['--path', '/a', '--standby', 'web2'],
      ['--path', '/a', '--standby', 'web2:relative'],
      ['--path', '/a', '--standby', 'bad host:/x'],
      ['--path', '/a', '--sync'],
      ['--path', '/a', '--exclude', '!negated'],
    ];
    for (const flags of bad) {
      await expect(run(['set', 'create', 'x', '--host', 'h', ...flags]), flags.join(' ')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(stub.calls.length).toBe(calls);
  });

  it('sends set update with a mask of exactly the flags given', async () => {
    await run(['set', 'update', 'www', '--exclude', 'tmp/', '--clear-standby', '--async']);
    const req = lastCall<UpdateSetRequest>('updateSet');
    expect(req.updateMask?.paths).toEqual(['excludes', 'standby', 'sync']);
    expect(req.spec).toMatchObject({ excludes: ['tmp/'], sync: false });
    expect(req.spec?.standby).toBeUndefined();
    await expect(run(['set', 'update', 'www'])).rejects.toThrow(/nothing to update/);
  });

  it('refuses failover without a terminal unless --yes, and asks for the set name on one', async () => {
    const calls = stub.calls.length;
    await expect(run(['failover', 'www'])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/--yes/) });
    await expect(run(['migrate', 'www', '--to', 'web3:/srv/www'])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(run(['failback', 'www'])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(run(['failover', 'www'], stub.io({ stdinTty: true, input: 'web\n' }))).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(stub.calls.length).toBe(calls);

    const typed = await run(['failover', 'www', '--at', '42'], stub.io({ stdinTty: true, input: 'www\n' }));
    expect(typed.io.err()).toContain('Type the set name (www) to confirm');
    expect(lastCall<FailoverRequest>('failover').point?.point).toEqual({ case: 'seq', value: 42n });
    expect(typed.io.out()).toContain('failed over to beta/web2 at seq 42, epoch 2: RTO 3.250s');

    const yes = await run(['failover', 'www', '--yes', '--json']);
    const lines = yes.io.out().trim().split('\n').map((l) => JSON.parse(l) as { job: { state: string } });
    expect(lines.map((l) => l.job.state)).toEqual(['JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
  });

  it('prints the verify report and fails with CORRUPT when damage is found', async () => {
    const io = stub.io();
    await expect(run(['verify', 'www', '--sample', '100'], io)).rejects.toMatchObject({ code: 'CORRUPT' });
    expect(io.out()).toContain('1 damaged');
    expect(io.out()).toMatch(/www\s+docs\/readme\.txt\s+-\s+3\.\.current/);
  });

  it('restores locally through ListFiles and ReadChunks', async () => {
    const dir = join(scratch, 'restore');
    const { io } = await run(['restore', 'www', '--local', dir]);
    expect(readFileSync(join(dir, 'docs/readme.txt'))).toEqual(fileData);
    expect(io.out()).toContain('restored www at #42');
    expect(io.out()).toMatch(/1 files .* 1 directories, 1 symlinks/);
    await expect(run(['restore', 'www', '--local', dir, '--to', 'web2:/srv'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('shows help globally, per group and per verb without connecting', async () => {
    const io = stub.io();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.out()).toContain('set create');
    expect(io.out()).toContain('HAVEN_PROFILE');
    const verb = stub.io();
    expect(await runCli(['set', 'create', '--help'], verb)).toBe(0);
    expect(verb.out()).toContain('Usage: haven set create NAME --host HOST (--path DIR | --device PATH)');
    const group = stub.io();
    expect(await runCli(['help', 'job'], group)).toBe(0);
    expect(group.out()).toContain('job watch');
  });
});
