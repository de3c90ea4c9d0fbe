import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HavenError, chunkIdOf, createManualClock } from '@haven/core';
import type { ChunkId, Clock, ManualClock } from '@haven/core';
import type { Catalog, Change, PutChange, Version } from './catalog.js';

/** A fresh, empty catalog for one test, and how to dispose of it. */
export interface CatalogUnderTest {
  readonly catalog: Catalog;
  cleanup(): Promise<void> | void;
}

export type CatalogFactory = (clock: Clock) => Promise<CatalogUnderTest> | CatalogUnderTest;

const T0 = Date.UTC(2026, 0, 1);
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

// ---------------------------------------------------------------------------- helpers

export function expectHavenError(fn: () => unknown, code: string, message?: RegExp): HavenError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(HavenError);
  const err = thrown as HavenError;
  expect(err.code, err.message).toBe(code);
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

export const rootOf = (content: string): ChunkId => chunkIdOf(new TextEncoder().encode(content));

export const file = (path: string, content = path, extra: Partial<PutChange> = {}): PutChange => ({
  op: 'put',
  path,
  type: 'file',
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeNs: 1_767_225_600_123_456_789n,
  size: content.length,
  contentRoot: rootOf(content),
  ...extra,
});

export const dir = (path: string): PutChange => ({ op: 'put', path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: 1n, size: 0 });

export const link = (path: string, target: string): PutChange => ({
  op: 'put',
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  mtimeNs: 2n,
  size: target.length,
  symlinkTarget: target,
});

export const del = (path: string): Change => ({ op: 'delete', path });

const pathsOf = (versions: Iterable<Version>): string[] => [...versions].map((v) => v.path);

// ---------------------------------------------------------------------------- the model

interface ModelEntry {
  readonly type: string;
  readonly root: string | null;
  readonly target: string | null;
  readonly mode: number;
  readonly size: number;
}
type Model = ReadonlyMap<string, ModelEntry>;

const below = (parent: string, path: string): boolean => (parent === '' ? path !== '' : path.startsWith(`${parent}/`));

/** The commit semantics, stated as plainly as possible: apply in order, deletes take subtrees. */
function applyToModel(model: Model, changes: readonly Change[]): Map<string, ModelEntry> {
  const m = new Map(model);
  const dropBelow = (p: string): void => {
    for (const k of [...m.keys()]) if (below(p, k)) m.delete(k);
  };
  for (const c of changes) {
    if (c.op === 'delete') {
      m.delete(c.path);
      dropBelow(c.path);
      continue;
    }
    if (m.get(c.path)?.type === 'dir' && c.type !== 'dir') dropBelow(c.path);
    m.set(c.path, { type: c.type, root: c.contentRoot ?? null, target: c.symlinkTarget ?? null, mode: c.mode, size: c.size });
  }
  return m;
}

const describeEntry = (path: string, e: ModelEntry): string => `${path}|${e.type}|${e.root}|${e.target}|${e.mode}|${e.size}`;
const describeVersion = (v: Version): string => `${v.path}|${v.type}|${v.contentRoot}|${v.symlinkTarget}|${v.mode}|${v.size}`;
const sortedModel = (m: Model): string[] => [...m.keys()].sort().map((k) => describeEntry(k, m.get(k) as ModelEntry));

/** Small deterministic PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Neighbours in byte order ('a' < 'a.b' < 'a/...' < 'a0' < 'ab'), to catch prefix mistakes.
const SEGMENTS = ['a', 'a.b', 'a0', 'ab', 'c'];
const UNIVERSE: string[] = (() => {
  const out: string[] = [];
  const walk = (prefix: string, depth: number): void => {
    for (const s of SEGMENTS) {
      const p = prefix === '' ? s : `${prefix}/${s}`;
      out.push(p);
      if (depth < 3) walk(p, depth + 1);
    }
  };
  walk('', 1);
  return out;
})();

/** A random batch (renames included), built against a running model so it stays meaningful. */
function randomBatch(rand: () => number, start: Model): { changes: Change[]; model: Map<string, ModelEntry> } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  let model = new Map(start);
  const changes: Change[] = [];
  const push = (...cs: Change[]): void => {
    changes.push(...cs);
    model = applyToModel(model, cs);
  };
  const n = Math.floor(rand() * 7);
  for (let i = 0; i < n; i++) {
    const r = rand();
    const existing = [...model.keys()];
    if (r < 0.35) push(file(pick(UNIVERSE), `content-${Math.floor(rand() * 12)}`));
    else if (r < 0.5) push(dir(pick(UNIVERSE)));
    else if (r < 0.55) push(link(pick(UNIVERSE), `../t${Math.floor(rand() * 3)}`));
    else if (r < 0.7) push(del(existing.length > 0 && rand() < 0.8 ? pick(existing) : pick(UNIVERSE)));
    else if (r < 0.8) {
      const dirs = existing.filter((p) => model.get(p)?.type === 'dir');
      push(del(dirs.length > 0 ? pick(dirs) : pick(UNIVERSE)));
    } else if (r < 0.98) {
      if (existing.length === 0) continue;
      // A rename: delete + create, the subtree recreated under the new name.
      const from = pick(existing);
      const to = pick(UNIVERSE);
      if (to === from || below(from, to)) continue;
      const moved = [...model.entries()].filter(([p]) => p === from || below(from, p));
      const puts = moved.map(([p, e]): Change => {
        const np = to + p.slice(from.length);
        if (e.type === 'dir') return dir(np);
        if (e.type === 'symlink') return link(np, e.target as string);
        return { ...file(np), contentRoot: e.root, size: e.size, mode: e.mode };
      });
      push(del(from), ...puts);
    } else if (rand() < 0.5) push(dir(''));
    else push(del(''));
  }
  return { changes, model };
}

// ---------------------------------------------------------------------------- the suite

export function describeCatalogContract(name: string, factory: CatalogFactory): void {
  describe(`Catalog contract: ${name}`, () => {
    let sut: CatalogUnderTest;
    let clock: ManualClock;
    let cat: Catalog;

    beforeEach(async () => {
      clock = createManualClock(T0);
      sut = await factory(clock);
      cat = sut.catalog;
    });
    afterEach(async () => {
      await sut.cleanup();
    });

    const site = (): void => {
      cat.initLocalSite({ id: 'site-alpha-id', name: 'alpha' });
    };
    const newSet = (setName = 's'): void => {
      if (cat.getLocalSite() === undefined) site();
      cat.createSet({ name: setName, host: 'web1', kind: 'files', source: '/srv/data' });
    };
    let batch = 0;
    const commit = (changes: Change[], extra: { setName?: string; label?: string; epoch?: number } = {}): number =>
      cat.commit({ setName: extra.setName ?? 's', epoch: extra.epoch ?? 1, batchId: `batch-${++batch}`, changes, ...extra }).seq;
    const state = (seq: number, setName = 's'): string[] => pathsOf(cat.stateAt(setName, seq));

    describe('sites', () => {
      it('records the local identity once', () => {
        expect(cat.getLocalSite()).toBeUndefined();
        const s = cat.initLocalSite({ id: 'id-1', name: 'alpha' });
        expect(s).toEqual({ id: 'id-1', name: 'alpha', createdAtMs: T0 });
        expect(cat.initLocalSite({ id: 'id-1', name: 'alpha' })).toEqual(s);
        expectHavenError(() => cat.initLocalSite({ id: 'id-2', name: 'beta' }), 'ALREADY_EXISTS', /alpha/);
        expectHavenError(() => cat.initLocalSite({ id: 'x', name: 'bad name' }), 'INVALID_ARGUMENT');
      });

      it('pairs, updates and forgets peers', () => {
        const peer = cat.addPeerSite({ name: 'beta', id: 'beta-id', address: '10.0.0.2:7443', caPem: PEM });
        expect(peer).toEqual({ name: 'beta', id: 'beta-id', address: '10.0.0.2:7443', caPem: PEM, pairedAtMs: T0 });
        expectHavenError(() => cat.addPeerSite({ name: 'beta', id: 'other', address: 'x:1', caPem: PEM }), 'ALREADY_EXISTS');
        expectHavenError(() => cat.addPeerSite({ name: 'gamma', id: 'beta-id', address: 'x:1', caPem: PEM }), 'ALREADY_EXISTS');
        expectHavenError(() => cat.addPeerSite({ name: 'gamma', id: 'g', address: 'x:1', caPem: 'not a pem' }), 'INVALID_ARGUMENT');
        expect(cat.updatePeerSite('beta', { address: '10.0.0.3:7443' }).address).toBe('10.0.0.3:7443');
        expect(cat.getPeerSite('beta')?.address).toBe('10.0.0.3:7443');
        expect(cat.listPeerSites().map((p) => p.name)).toEqual(['beta']);
        cat.removePeerSite('beta');
        expect(cat.getPeerSite('beta')).toBeUndefined();
        expectHavenError(() => cat.removePeerSite('beta'), 'NOT_FOUND');
      });
    });

    describe('hosts and enrollment', () => {
      it('keeps enrolled host names and certificates unique, and frees them on removal', () => {
        const h = cat.addHost({ name: 'web1', certFingerprint: 'fp-1' });
        expect(h).toMatchObject({ name: 'web1', certFingerprint: 'fp-1', enrolledAtMs: T0, lastSeenAtMs: null, removedAtMs: null });
        expectHavenError(() => cat.addHost({ name: 'web1', certFingerprint: 'fp-2' }), 'ALREADY_EXISTS', /already enrolled/);
        expectHavenError(() => cat.addHost({ name: 'web2', certFingerprint: 'fp-1' }), 'ALREADY_EXISTS', /web1/);
        expect(cat.getHostByFingerprint('fp-1')?.id).toBe(h.id);
        clock.advance(5000);
        cat.touchHost(h.id);
        expect(cat.getHost('web1')?.lastSeenAtMs).toBe(T0 + 5000);
        expect(cat.removeHost('web1').removedAtMs).toBe(T0 + 5000);
        expect(cat.getHost('web1')).toBeUndefined();
        expect(cat.getHostByFingerprint('fp-1')).toBeUndefined();
        expect(cat.getHostById(h.id)?.removedAtMs).toBe(T0 + 5000);
        const again = cat.addHost({ name: 'web1', certFingerprint: 'fp-1' });
        expect(again.id).not.toBe(h.id);
        expect(cat.listHosts().map((x) => x.id)).toEqual([again.id]);
        expect(cat.listHosts({ includeRemoved: true })).toHaveLength(2);
        expectHavenError(() => cat.removeHost('nope'), 'NOT_FOUND');
        expectHavenError(() => cat.touchHost('no-such-id'), 'NOT_FOUND');
      });

      it('consumes a token exactly once', () => {
        cat.addEnrollmentToken({ tokenHash: 'h1', hostName: 'web1', expiresAtMs: T0 + 3_600_000 });
        expect(cat.listEnrollmentTokens().map((t) => t.tokenHash)).toEqual(['h1']);
        const used = cat.consumeEnrollmentToken('h1');
        expect(used).toMatchObject({ hostName: 'web1', usedAtMs: T0 });
        expectHavenError(() => cat.consumeEnrollmentToken('h1'), 'UNAUTHENTICATED', /already used/);
        expectHavenError(() => cat.consumeEnrollmentToken('unknown'), 'UNAUTHENTICATED', /not valid/);
        expect(cat.listEnrollmentTokens()).toEqual([]);
        expect(cat.listEnrollmentTokens({ includeInactive: true })).toHaveLength(1);
      });

      it('refuses an expired token', () => {
        cat.addEnrollmentToken({ tokenHash: 'h2', hostName: 'web1', expiresAtMs: T0 + 1000 });
        expectHavenError(() => cat.addEnrollmentToken({ tokenHash: 'h3', hostName: 'web1', expiresAtMs: T0 }), 'INVALID_ARGUMENT');
        clock.advance(1000);
        expectHavenError(() => cat.consumeEnrollmentToken('h2'), 'UNAUTHENTICATED', /expired/);
        expect(cat.pruneEnrollmentTokens()).toBe(1);
        expect(cat.listEnrollmentTokens({ includeInactive: true })).toEqual([]);
      });

      it('enrolls a host from a token atomically', () => {
        cat.addEnrollmentToken({ tokenHash: 't1', hostName: 'web1', expiresAtMs: T0 + 60_000 });
        cat.addHost({ name: 'web1', certFingerprint: 'old' });
        // The host exists: enrollment fails and the token stays usable.
        expectHavenError(() => cat.enrollHost({ tokenHash: 't1', certFingerprint: 'new' }), 'ALREADY_EXISTS');
        cat.removeHost('web1');
        const host = cat.enrollHost({ tokenHash: 't1', certFingerprint: 'new' });
        expect(host).toMatchObject({ name: 'web1', certFingerprint: 'new' });
        expectHavenError(() => cat.enrollHost({ tokenHash: 't1', certFingerprint: 'other' }), 'UNAUTHENTICATED');
      });
    });

    describe('audit log', () => {
      it('appends and lists entries in order', () => {
        const a = cat.appendAudit({ actor: 'admin', action: 'set.create', target: 's', result: 'OK', details: { host: 'web1' } });
        clock.advance(1);
        const b = cat.appendAudit({ actor: 'admin', action: 'set.remove', target: 's', result: 'NOT_FOUND' });
        expect(a).toMatchObject({ timeMs: T0, actor: 'admin', details: { host: 'web1' } });
        expect(b.id).toBeGreaterThan(a.id);
        expect(cat.listAudit().map((e) => e.action)).toEqual(['set.create', 'set.remove']);
        expect(cat.listAudit({ afterId: a.id }).map((e) => e.id)).toEqual([b.id]);
        expect(cat.listAudit({ newestFirst: true, limit: 1 }).map((e) => e.id)).toEqual([b.id]);
        expectHavenError(() => cat.appendAudit({ actor: 'x', action: 'y', result: 'OK', details: { n: 1n } }), 'INVALID_ARGUMENT');
      });
    });

    describe('jobs', () => {
      it('moves a job through its states', () => {
        const job = cat.createJob({ kind: 'restore', setName: 's', spec: { at: 5 } });
        expect(job).toMatchObject({ state: 'PENDING', kind: 'restore', spec: { at: 5 }, progress: {}, result: null, createdAtMs: T0 });
        expect(cat.assignJob(job.id, 'host-1').hostId).toBe('host-1');
        clock.advance(10);
        expect(cat.startJob(job.id)).toMatchObject({ state: 'RUNNING', startedAtMs: T0 + 10 });
        expectHavenError(() => cat.startJob(job.id), 'FAILED_PRECONDITION', /RUNNING/);
        expect(cat.updateJobProgress(job.id, { files: 3 }).progress).toEqual({ files: 3 });
        clock.advance(10);
        const done = cat.finishJob(job.id, { state: 'SUCCEEDED', result: { rtoMs: 1234 } });
        expect(done).toMatchObject({ state: 'SUCCEEDED', result: { rtoMs: 1234 }, finishedAtMs: T0 + 20 });
        expectHavenError(() => cat.finishJob(job.id, { state: 'FAILED' }), 'FAILED_PRECONDITION');
        expectHavenError(() => cat.updateJobProgress(job.id, {}), 'FAILED_PRECONDITION');
        expect(cat.getJob(job.id)?.state).toBe('SUCCEEDED');
        expectHavenError(() => cat.startJob('nope'), 'NOT_FOUND');
      });

      it('lists jobs newest first with filters', () => {
        const a = cat.createJob({ kind: 'verify' });
        const b = cat.createJob({ kind: 'drill', setName: 's', hostId: 'h' });
        cat.finishJob(a.id, { state: 'FAILED', errorCode: 'CORRUPT', errorMessage: 'chunk x damaged' });
        expect(cat.listJobs().map((j) => j.id)).toEqual([b.id, a.id]);
        expect(cat.listJobs({ activeOnly: true }).map((j) => j.id)).toEqual([b.id]);
        expect(cat.listJobs({ state: 'FAILED' })[0]).toMatchObject({ errorCode: 'CORRUPT', errorMessage: 'chunk x damaged' });
        expect(cat.listJobs({ hostId: 'h' }).map((j) => j.id)).toEqual([b.id]);
        expect(cat.listJobs({ kind: 'verify', setName: 's' })).toEqual([]);
        expectHavenError(() => cat.createJob({ kind: 'Not A Kind' }), 'INVALID_ARGUMENT');
      });
    });

    describe('sets', () => {
      it('creates a set with defaults and refuses duplicates', () => {
        site();
        const s = cat.createSet({ name: 's', host: 'web1', kind: 'files', source: '/srv/data', excludes: ['*.tmp'] });
        expect(s).toMatchObject({
          name: 's',
          host: 'web1',
          kind: 'files',
          source: '/srv/data',
          excludes: ['*.tmp'],
          retention: null,
          replicateTo: [],
          standby: null,
          sync: false,
          paused: false,
          epoch: 1,
          homeSite: 'alpha',
          createdAtMs: T0,
          lastSeq: 0,
          lastPointTimeMs: null,
          state: 'INITIAL_SYNC',
        });
        expect(s.id).toMatch(/\S/);
        expectHavenError(() => cat.createSet({ name: 's', host: 'web2', kind: 'files', source: '/x' }), 'ALREADY_EXISTS');
        expectHavenError(() => cat.createSet({ name: 't', host: 'web1', kind: 'files', source: 'relative' }), 'INVALID_ARGUMENT');
        expectHavenError(
          () => cat.createSet({ name: 't', host: 'web1', kind: 'tape' as 'files', source: '/x' }),
          'INVALID_ARGUMENT',
        );
        expectHavenError(() => cat.createSet({ name: 't', host: 'web1', kind: 'block', source: '/dev/sdb', sync: true }), 'INVALID_ARGUMENT');
        expect(cat.listSets().map((x) => x.name)).toEqual(['s']);
      });

      it('needs a home site before the local site has an identity', () => {
        expectHavenError(() => cat.createSet({ name: 's', host: 'h', kind: 'files', source: '/x' }), 'FAILED_PRECONDITION');
        expect(cat.createSet({ name: 's', host: 'h', kind: 'files', source: '/x', homeSite: 'beta' }).homeSite).toBe('beta');
      });

      it('updates policy, status and epoch', () => {
        newSet();
        const u = cat.updateSet('s', {
          replicateTo: ['beta'],
          sync: true,
          standby: { host: 'dr1', target: '/restore/s' },
          retention: 'hourly 24',
          paused: true,
        });
        expect(u).toMatchObject({ replicateTo: ['beta'], sync: true, standby: { host: 'dr1', target: '/restore/s' }, retention: 'hourly 24' });
        expect(cat.updateSet('s', { standby: null, retention: null }).standby).toBeNull();
        expectHavenError(() => cat.updateSet('s', { replicateTo: [] }), 'INVALID_ARGUMENT', /sync/);
        expectHavenError(() => cat.updateSet('nope', { paused: false }), 'NOT_FOUND');
        clock.advance(100);
        cat.reportSetStatus('s', { state: 'CONTINUOUS', lagSeconds: 1.5, backlogBytes: 4096 });
        expect(cat.getSet('s')).toMatchObject({ state: 'CONTINUOUS', lagSeconds: 1.5, backlogBytes: 4096, lastReportAtMs: T0 + 100 });
        expectHavenError(() => cat.reportSetStatus('s', { state: 'ASLEEP' as 'PAUSED', lagSeconds: 0, backlogBytes: 0 }), 'INVALID_ARGUMENT');
        expect(cat.advanceEpoch('s').epoch).toBe(2);
        expect(cat.advanceEpoch('s', { to: 5, homeSite: 'beta' })).toMatchObject({ epoch: 5, homeSite: 'beta' });
        expect(cat.advanceEpoch('s', { to: 5 }).epoch).toBe(5);
        expectHavenError(() => cat.advanceEpoch('s', { to: 4 }), 'FAILED_PRECONDITION');
      });

      it('removes a set with its whole history', () => {
        newSet();
        commit([file('a')]);
        cat.removeSet('s');
        expect(cat.getSet('s')).toBeUndefined();
        expectHavenError(() => cat.listPoints('s'), 'NOT_FOUND');
        newSet();
        expect(cat.getSet('s')?.lastSeq).toBe(0);
        expect(cat.listPoints('s')).toEqual([]);
        expect([...cat.liveContentRoots()]).toEqual([]);
      });
    });

    describe('commit', () => {
      it('numbers points gaplessly and records them', () => {
        newSet();
        expect(commit([file('a')])).toBe(1);
        clock.advance(1000);
        expect(commit([file('b')], { label: 'before-upgrade' })).toBe(2);
        clock.advance(1000);
        expect(commit([])).toBe(3);
        const points = cat.listPoints('s');
        expect(points.map((p) => [p.seq, p.timeMs, p.epoch, p.label, p.changeCount, p.branch])).toEqual([
          [1, T0, 1, null, 1, 'main'],
          [2, T0 + 1000, 1, 'before-upgrade', 1, 'main'],
          [3, T0 + 2000, 1, null, 0, 'main'],
        ]);
        expect(cat.getSet('s')).toMatchObject({ lastSeq: 3, lastPointTimeMs: T0 + 2000 });
      });

      it('is idempotent on the batch id', () => {
        newSet();
        const first = cat.commit({ setName: 's', epoch: 1, batchId: 'agent-1:7', changes: [file('a', 'v1')] });
        expect(first).toEqual({ seq: 1, timeMs: T0, duplicate: false });
        clock.advance(500);
        const again = cat.commit({ setName: 's', epoch: 1, batchId: 'agent-1:7', changes: [file('a', 'v2')] });
        expect(again).toEqual({ seq: 1, timeMs: T0, duplicate: true });
        expect(cat.getSet('s')?.lastSeq).toBe(1);
        expect(cat.getVersion('s', 'a', 1)?.contentRoot).toBe(rootOf('v1'));
        // A retry still learns its seq after the writer was fenced.
        cat.advanceEpoch('s');
        expect(cat.commit({ setName: 's', epoch: 1, batchId: 'agent-1:7', changes: [] }).duplicate).toBe(true);
      });

      it('fences stale epochs and refuses unadopted ones', () => {
        newSet();
        commit([file('a')]);
        cat.advanceEpoch('s');
        const err = expectHavenError(() => commit([file('b')], { epoch: 1 }), 'FENCED', /epoch 2/);
        expect(err.details).toMatchObject({ setEpoch: '2', epoch: '1' });
        expectHavenError(() => commit([file('b')], { epoch: 3 }), 'FAILED_PRECONDITION');
        expect(commit([file('b')], { epoch: 2 })).toBe(2);
        expect(cat.listPoints('s').map((p) => p.epoch)).toEqual([1, 2]);
      });

      it('validates the whole batch before writing anything', () => {
        newSet();
        expectHavenError(() => commit([file('ok'), file('/abs')]), 'INVALID_ARGUMENT', /changes\[1\]\.path/);
        expectHavenError(() => commit([file('a/../b')]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([file('a//b')]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([file('a/')]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([file('a', 'x', { contentRoot: 'zz' })]), 'INVALID_ARGUMENT', /contentRoot/);
        expectHavenError(() => commit([file('a', 'x', { mtimeNs: 5 as unknown as bigint })]), 'INVALID_ARGUMENT', /mtimeNs/);
        expectHavenError(() => commit([{ ...dir('d'), contentRoot: rootOf('x') }]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([{ op: 'put', path: 'l', type: 'symlink', mode: 0, uid: 0, gid: 0, mtimeNs: 0n, size: 0 }]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([{ op: 'move', path: 'x' } as unknown as Change]), 'INVALID_ARGUMENT');
        expectHavenError(() => commit([file('a')], { setName: 'nope' }), 'NOT_FOUND');
        expect(cat.getSet('s')?.lastSeq).toBe(0);
        expect(commit([file('ok')])).toBe(1);
      });

      it('keeps every version readable at every point', () => {
        newSet();
        const s1 = commit([dir('docs'), file('docs/a', 'a1'), file('docs/b', 'b1')]);
        const s2 = commit([file('docs/a', 'a2')]);
        const s3 = commit([del('docs/b'), link('docs/l', 'a')]);
        const s4 = commit([file('docs/a', 'a3')]);
        expect(state(s1)).toEqual(['docs', 'docs/a', 'docs/b']);
        expect(state(s2)).toEqual(['docs', 'docs/a', 'docs/b']);
        expect(state(s3)).toEqual(['docs', 'docs/a', 'docs/l']);
        expect([s1, s2, s3, s4].map((q) => cat.getVersion('s', 'docs/a', q)?.contentRoot)).toEqual(
          ['a1', 'a2', 'a2', 'a3'].map(rootOf),
        );
        const v = cat.getVersion('s', 'docs/a', s2) as Version;
        expect(v).toEqual({
          path: 'docs/a',
          seqFrom: s2,
          seqTo: s4,
          type: 'file',
          mode: 0o644,
          uid: 1000,
          gid: 1000,
          mtimeNs: 1_767_225_600_123_456_789n,
          size: 2,
          contentRoot: rootOf('a2'),
          symlinkTarget: null,
        });
        expect(cat.getVersion('s', 'docs/a', s4)?.seqTo).toBeNull();
        expect(cat.getVersion('s', 'docs/b', s3)).toBeUndefined();
        expect(cat.getVersion('s', 'docs/l', s3)).toMatchObject({ type: 'symlink', symlinkTarget: 'a', contentRoot: null });
        expectHavenError(() => cat.stateAt('s', 9), 'NOT_FOUND', /latest is 4/);
        expectHavenError(() => cat.getVersion('s', 'docs/a', 0), 'NOT_FOUND');
      });

      it('deletes a directory with its whole subtree, and only it', () => {
        newSet();
        commit([dir('a'), dir('a/b'), file('a/b/c'), file('a/x'), file('a.txt'), file('a0'), file('ab'), dir('a-b'), file('a-b/y')]);
        const s2 = commit([del('a')]);
        expect(state(s2)).toEqual(['a-b', 'a-b/y', 'a.txt', 'a0', 'ab']);
        expect(state(1)).toEqual(['a', 'a-b', 'a-b/y', 'a.txt', 'a/b', 'a/b/c', 'a/x', 'a0', 'ab']);
      });

      it('ends the subtree when a directory becomes a file', () => {
        newSet();
        commit([dir('d'), file('d/f')]);
        const s2 = commit([file('d', 'now a file')]);
        expect(state(s2)).toEqual(['d']);
        expect(cat.getVersion('s', 'd', s2)?.type).toBe('file');
      });

      it('records a rename as delete plus create, keeping the content', () => {
        newSet();
        commit([dir('old'), file('old/f', 'payload')]);
        const s2 = commit([del('old'), dir('new'), file('new/f', 'payload')]);
        expect(state(s2)).toEqual(['new', 'new/f']);
        expect(cat.getVersion('s', 'new/f', s2)?.contentRoot).toBe(rootOf('payload'));
        expect(cat.getVersion('s', 'old/f', 1)?.seqTo).toBe(s2);
      });

      it('applies a batch in order: the last change of a path wins', () => {
        newSet();
        commit([file('keep', 'k')]);
        const r = cat.commit({
          setName: 's',
          epoch: 1,
          batchId: 'b',
          changes: [file('x', 'first'), file('x', 'second!'), file('gone'), del('gone'), dir('d'), file('d/f'), del('d'), file('d2/f', 'abc')],
        });
        expect(state(r.seq)).toEqual(['d2/f', 'keep', 'x']);
        expect(cat.getVersion('s', 'x', r.seq)?.contentRoot).toBe(rootOf('second!'));
        expect(cat.listPoints('s')[1]).toMatchObject({ changeCount: 8, bytesAdded: 'second!'.length + 3 });
        const r2 = cat.commit({ setName: 's', epoch: 1, batchId: 'c', changes: [del('keep'), file('keep', 'k2')] });
        expect(cat.getVersion('s', 'keep', r2.seq)?.contentRoot).toBe(rootOf('k2'));
        expect(cat.getVersion('s', 'keep', 1)?.seqTo).toBe(r2.seq);
      });

      it('never invents parent directories', () => {
        newSet();
        const s1 = commit([file('x/y/z')]);
        expect(state(s1)).toEqual(['x/y/z']);
        expect(pathsOf(cat.stateAt('s', s1, { prefix: 'x' }))).toEqual(['x/y/z']);
      });

      it('keeps mtimes exact to the nanosecond', () => {
        newSet();
        const t = 9_223_372_036_854_775_807n;
        commit([file('max', 'm', { mtimeNs: t }), file('old', 'o', { mtimeNs: -1_500_000_001n })]);
        expect(cat.getVersion('s', 'max', 1)?.mtimeNs).toBe(t);
        expect(cat.getVersion('s', 'old', 1)?.mtimeNs).toBe(-1_500_000_001n);
      });
    });

    describe('reading points', () => {
      it('lists a subtree, recursively or one level deep', () => {
        newSet();
        commit([dir(''), dir('a'), file('a/1'), dir('a/b'), file('a/b/2'), file('a.z'), file('z')]);
        expect(state(1)).toEqual(['', 'a', 'a.z', 'a/1', 'a/b', 'a/b/2', 'z']);
        expect(pathsOf(cat.stateAt('s', 1, { prefix: 'a' }))).toEqual(['a', 'a/1', 'a/b', 'a/b/2']);
        expect(pathsOf(cat.stateAt('s', 1, { prefix: 'a', recursive: false }))).toEqual(['a', 'a/1', 'a/b']);
        expect(pathsOf(cat.stateAt('s', 1, { recursive: false }))).toEqual(['', 'a', 'a.z', 'z']);
        expect(pathsOf(cat.stateAt('s', 1, { prefix: 'nope' }))).toEqual([]);
        expectHavenError(() => cat.stateAt('s', 1, { prefix: '/a' }), 'INVALID_ARGUMENT');
      });

      it('streams a large state in pages while commits continue', () => {
        newSet();
        const files = Array.from({ length: 2500 }, (_, i) => file(`f/${String(i).padStart(5, '0')}`));
        commit(files);
        const it1 = cat.stateAt('s', 1)[Symbol.iterator]();
        const seen: string[] = [];
        for (let i = 0; i < 10; i++) seen.push((it1.next().value as Version).path);
        // A commit in the middle of the iteration neither fails nor changes what it returns.
        expect(commit([del('f')])).toBe(2);
        for (let r = it1.next(); r.done !== true; r = it1.next()) seen.push(r.value.path);
        expect(seen).toEqual(files.map((f) => f.path));
        expect(state(2)).toEqual([]);
      });

      it('resolves points by seq, time and latest', () => {
        newSet();
        commit([file('a')]);
        clock.advance(60_000);
        commit([file('b')]);
        clock.advance(60_000);
        commit([file('c')]);
        expect(cat.resolvePoint('s', { latest: true }).seq).toBe(3);
        expect(cat.resolvePoint('s', { kind: 'latest' }).seq).toBe(3);
        expect(cat.resolvePoint('s', { seq: 2 })).toMatchObject({ seq: 2, timeMs: T0 + 60_000, epoch: 1 });
        expect(cat.resolvePoint('s', { kind: 'seq', seq: 1 }).seq).toBe(1);
        expect(cat.resolvePoint('s', { timeMs: T0 + 60_000 }).seq).toBe(2);
        expect(cat.resolvePoint('s', { timeMs: T0 + 119_999 }).seq).toBe(2);
        expect(cat.resolvePoint('s', { kind: 'time', timeMs: T0 + 10 ** 9 }).seq).toBe(3);
        expectHavenError(() => cat.resolvePoint('s', { timeMs: T0 - 1 }), 'NOT_FOUND', /no point at or before 2025-12-31T23:59:59.999Z/);
        expectHavenError(() => cat.resolvePoint('s', { seq: 4 }), 'NOT_FOUND', /latest is 3/);
        expectHavenError(() => cat.resolvePoint('s', {} as { latest: true }), 'INVALID_ARGUMENT');
        cat.createSet({ name: 'empty', host: 'h', kind: 'files', source: '/e' });
        expectHavenError(() => cat.resolvePoint('empty', { latest: true }), 'NOT_FOUND', /no points yet/);
      });

      it('never lets point times go backwards', () => {
        newSet();
        clock.advance(10_000);
        commit([file('a')]);
        const r = cat.commit({ setName: 's', epoch: 1, batchId: 'late', changes: [], timeMs: T0 });
        expect(r.timeMs).toBe(T0 + 10_000);
        expect(cat.resolvePoint('s', { timeMs: T0 + 10_000 }).seq).toBe(2);
      });

      it('lists points from a seq with a limit', () => {
        newSet();
        for (let i = 0; i < 5; i++) commit([file(`f${i}`)]);
        expect(cat.listPoints('s', { fromSeq: 2, limit: 2 }).map((p) => p.seq)).toEqual([2, 3]);
      });

      it('diffs two points', () => {
        newSet();
        commit([file('same'), file('mod', 'v1'), file('del'), dir('d'), file('d/x')]);
        commit([file('mod', 'v2'), del('del'), file('new'), file('tmp')]);
        commit([del('tmp'), del('d')]);
        const d = [...cat.diff('s', 1, 3)];
        expect(d.map((e) => [e.path, e.before?.seqFrom ?? null, e.after?.seqFrom ?? null])).toEqual([
          ['d', 1, null],
          ['d/x', 1, null],
          ['del', 1, null],
          ['mod', 1, 2],
          ['new', null, 2],
        ]);
        expect([...cat.diff('s', 0, 1)].map((e) => e.path)).toEqual(['d', 'd/x', 'del', 'mod', 'same']);
        expect([...cat.diff('s', 2, 2)]).toEqual([]);
        expectHavenError(() => cat.diff('s', 3, 2), 'INVALID_ARGUMENT');
      });
    });

    describe('retention', () => {
      it('keeps exactly the state of the kept points', () => {
        newSet();
        commit([file('a', 'a1'), file('b', 'b1')]); // 1
        commit([file('a', 'a2')]); // 2
        commit([file('a', 'a3'), del('b')]); // 3
        commit([file('c', 'c1')]); // 4
        commit([file('a', 'a5')]); // 5
        const before = [1, 2, 3, 4, 5].map((q) => [...cat.stateAt('s', q)]);
        const dry = cat.applyRetention('s', new Set([1, 4]), { dryRun: true });
        expect(dry).toEqual({ pointsKept: 3, pointsDropped: 2, versionsDropped: 1, bytes: 2 });
        expect(cat.listPoints('s')).toHaveLength(5);
        const res = cat.applyRetention('s', new Set([1, 4, 99]));
        expect(res).toEqual(dry);
        expect(cat.listPoints('s').map((p) => p.seq)).toEqual([1, 4, 5]);
        for (const q of [1, 4, 5]) expect([...cat.stateAt('s', q)]).toEqual(before[q - 1]);
        expectHavenError(() => cat.stateAt('s', 2), 'NOT_FOUND', /dropped by retention/);
        expect(new Set(cat.liveContentRoots())).toEqual(new Set(['a1', 'b1', 'a3', 'c1', 'a5'].map(rootOf)));
        // Numbering continues after the set's last seq, not after the last kept point.
        expect(commit([file('d')])).toBe(6);
      });

      it('always keeps the latest point and accepts a predicate', () => {
        newSet();
        for (let i = 1; i <= 6; i++) {
          commit([file('log', `v${i}`)], i === 3 ? { label: 'checkpoint' } : {});
          clock.advance(3_600_000);
        }
        const res = cat.applyRetention('s', (p) => p.label !== null);
        expect(res).toMatchObject({ pointsKept: 2, pointsDropped: 4, versionsDropped: 4 });
        expect(cat.listPoints('s').map((p) => p.seq)).toEqual([3, 6]);
        expect(cat.getVersion('s', 'log', 3)?.contentRoot).toBe(rootOf('v3'));
        expect(cat.applyRetention('s', new Set())).toMatchObject({ pointsKept: 1, pointsDropped: 1 });
        expect(cat.listPoints('s').map((p) => p.seq)).toEqual([6]);
        expectHavenError(() => cat.applyRetention('s', new Set([1.5])), 'INVALID_ARGUMENT');
      });
    });

    describe('GC and verify support', () => {
      it('lists each live content root once, across sets', () => {
        newSet('s');
        newSet('t');
        commit([file('a', 'shared'), file('b', 'shared'), file('c', 'only-s'), dir('d')]);
        commit([file('x', 'shared'), file('y', 'only-t')], { setName: 't' });
        const roots = [...cat.liveContentRoots()];
        expect(roots.length).toBe(3);
        expect(new Set(roots)).toEqual(new Set(['shared', 'only-s', 'only-t'].map(rootOf)));
      });

      it('maps damaged content roots to files and points', () => {
        newSet();
        commit([file('a', 'bad')]); // 1
        commit([file('b', 'other')]); // 2
        commit([file('a', 'good')]); // 3
        commit([file('c', 'bad')]); // 4
        const uses = cat.findVersionsByContentRoots([rootOf('bad'), rootOf('bad')]);
        expect(uses).toEqual([
          { contentRoot: rootOf('bad'), setName: 's', branch: 'main', path: 'a', seqFrom: 1, seqTo: 3, points: { first: 1, last: 2 } },
          { contentRoot: rootOf('bad'), setName: 's', branch: 'main', path: 'c', seqFrom: 4, seqTo: null, points: { first: 4, last: 4 } },
        ]);
        expect(cat.findVersionsByContentRoots([rootOf('never')])).toEqual([]);
        expectHavenError(() => cat.findVersionsByContentRoots(['xyz']), 'INVALID_ARGUMENT');
      });
    });

    describe('divergent branches', () => {
      it('keeps stale-epoch entries on a forked branch, listed and readable', () => {
        newSet();
        commit([file('a', 'a1'), file('b', 'b1')]); // 1
        commit([file('a', 'a2')]); // 2
        cat.advanceEpoch('s', { homeSite: 'beta' });
        commit([file('main-only')], { epoch: 2 }); // 3 on main
        const branch = cat.forkBranch('s', { branch: 'diverged-e1', atSeq: 2 });
        expect(branch).toMatchObject({ name: 'diverged-e1', forkSeq: 2, lastSeq: 2 });
        const r = cat.commit({ setName: 's', epoch: 1, batchId: 'old-primary-1', branch: 'diverged-e1', changes: [file('a', 'split'), del('b')] });
        expect(r.seq).toBe(3);
        expect(state(3)).toEqual(['a', 'b', 'main-only']);
        expect(pathsOf(cat.stateAt('s', 3, { branch: 'diverged-e1' }))).toEqual(['a']);
        expect(cat.getVersion('s', 'a', 3, { branch: 'diverged-e1' })?.contentRoot).toBe(rootOf('split'));
        expect(cat.listPoints('s').map((p) => p.seq)).toEqual([1, 2, 3]);
        expect(cat.listPoints('s', { includeDivergent: true }).map((p) => `${p.seq}@${p.branch}`)).toEqual([
          '1@main',
          '2@main',
          '3@main',
          '3@diverged-e1',
        ]);
        expect(cat.resolvePoint('s', { latest: true }, { branch: 'diverged-e1' }).epoch).toBe(1);
        expectHavenError(() => cat.stateAt('s', 2, { branch: 'diverged-e1' }), 'NOT_FOUND', /read it on main/);
        // Retention of main leaves the branch alone.
        cat.applyRetention('s', new Set());
        expect(pathsOf(cat.stateAt('s', 3, { branch: 'diverged-e1' }))).toEqual(['a']);
        expect(new Set(cat.liveContentRoots()).has(rootOf('split'))).toBe(true);
        expect(cat.listBranches('s').map((b) => b.lastSeq)).toEqual([3]);
        expectHavenError(() => cat.forkBranch('s', { branch: 'diverged-e1', atSeq: 3 }), 'ALREADY_EXISTS');
        expectHavenError(() => cat.forkBranch('s', { branch: 'main', atSeq: 3 }), 'INVALID_ARGUMENT');
        cat.dropBranch('s', 'diverged-e1');
        expect(cat.listBranches('s')).toEqual([]);
        expect(new Set(cat.liveContentRoots()).has(rootOf('split'))).toBe(false);
      });

      it('moves the fenced side of a split brain off the main line', () => {
        newSet();
        commit([dir('d'), file('d/x', 'x1'), file('y', 'y1')]); // 1
        commit([file('d/x', 'x2')]); // 2, shared
        commit([del('d'), file('z', 'z-old')]); // 3, written by the old primary after the fork
        commit([file('y', 'y-old')]); // 4
        const before3 = [...cat.stateAt('s', 3)];
        const before4 = [...cat.stateAt('s', 4)];
        const branch = cat.moveToDivergentBranch('s', { branch: 'split-1', atSeq: 2 });
        expect(branch).toMatchObject({ forkSeq: 2, lastSeq: 4 });
        expect(cat.getSet('s')?.lastSeq).toBe(2);
        expect(cat.listPoints('s').map((p) => p.seq)).toEqual([1, 2]);
        expect([...cat.stateAt('s', 3, { branch: 'split-1' })]).toEqual(before3);
        expect([...cat.stateAt('s', 4, { branch: 'split-1' })]).toEqual(before4);
        // The new primary's entries continue main at 3, from main's state at 2.
        cat.advanceEpoch('s');
        expect(commit([file('w')], { epoch: 2 })).toBe(3);
        expect(state(3)).toEqual(['d', 'd/x', 'w', 'y']);
        expect(cat.getVersion('s', 'd/x', 3)?.contentRoot).toBe(rootOf('x2'));
        expectHavenError(() => cat.moveToDivergentBranch('s', { branch: 'again', atSeq: 3 }), 'FAILED_PRECONDITION');
      });
    });

    describe('model check', () => {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        it(`matches the model at every seq (seed ${seed})`, () => {
          newSet();
          const rand = prng(seed);
          const snapshots: Model[] = [new Map()];
          const batches: { id: string; changes: Change[] }[] = [];
          for (let i = 0; i < 40; i++) {
            if (batches.length > 0 && rand() < 0.1) {
              // An agent retrying an acked batch: nothing changes.
              const old = batches[Math.floor(rand() * batches.length)] as { id: string; changes: Change[] };
              expect(cat.commit({ setName: 's', epoch: 1, batchId: old.id, changes: old.changes }).duplicate).toBe(true);
              continue;
            }
            const { changes, model } = randomBatch(rand, snapshots[snapshots.length - 1] as Model);
            const id = `seed${seed}-${i}`;
            const r = cat.commit({ setName: 's', epoch: 1, batchId: id, changes });
            expect(r.seq).toBe(snapshots.length);
            batches.push({ id, changes });
            snapshots.push(model);
          }
          const last = snapshots.length - 1;
          expect(cat.getSet('s')?.lastSeq).toBe(last);
          for (let q = 1; q <= last; q++) {
            const m = snapshots[q] as Model;
            expect([...cat.stateAt('s', q)].map(describeVersion), `state at ${q}`).toEqual(sortedModel(m));
            for (const prefix of ['a', 'a/a0', 'ab']) {
              const want = sortedModel(new Map([...m].filter(([p]) => p === prefix || (below(prefix, p) && !p.slice(prefix.length + 1).includes('/')))));
              expect([...cat.stateAt('s', q, { prefix, recursive: false })].map(describeVersion), `ls ${prefix} at ${q}`).toEqual(want);
            }
            const prev = snapshots[q - 1] as Model;
            const changed = [...new Set([...prev.keys(), ...m.keys()])]
              .filter((p) => JSON.stringify(prev.get(p)) !== JSON.stringify(m.get(p)))
              .sort();
            const diffed = [...cat.diff('s', q - 1, q)];
            // A path rewritten with identical metadata is still a new version, so diff may list more.
            expect(diffed.map((d) => d.path)).toEqual(expect.arrayContaining(changed));
            for (const d of diffed) {
              expect(d.after === null ? undefined : describeVersion(d.after)).toBe(
                m.has(d.path) ? describeEntry(d.path, m.get(d.path) as ModelEntry) : undefined,
              );
            }
          }
        });
      }

      for (const seed of [11, 12, 13]) {
        it(`retention keeps exactly the kept points (seed ${seed})`, () => {
          newSet();
          newSet('other');
          commit([file('other-file', 'other-content')], { setName: 'other' });
          const rand = prng(seed);
          const snapshots: Model[] = [new Map()];
          for (let i = 0; i < 30; i++) {
            const { changes, model } = randomBatch(rand, snapshots[snapshots.length - 1] as Model);
            commit(changes);
            snapshots.push(model);
          }
          let alive = snapshots.map((_, q) => q).filter((q) => q > 0);
          const last = snapshots.length - 1;
          for (const keepRate of [0.5, 0.2]) {
            const keep = new Set(alive.filter(() => rand() < keepRate));
            cat.applyRetention('s', keep);
            alive = alive.filter((q) => keep.has(q) || q === last);
            expect(cat.listPoints('s').map((p) => p.seq)).toEqual(alive);
            for (let q = 1; q <= last; q++) {
              if (alive.includes(q)) {
                expect([...cat.stateAt('s', q)].map(describeVersion), `state at ${q}`).toEqual(sortedModel(snapshots[q] as Model));
              } else {
                expectHavenError(() => cat.stateAt('s', q), 'NOT_FOUND');
              }
            }
            const roots = new Set<string>([rootOf('other-content')]);
            for (const q of alive) for (const e of (snapshots[q] as Model).values()) if (e.root !== null) roots.add(e.root);
            expect(new Set(cat.liveContentRoots())).toEqual(roots);
          }
          const { changes, model } = randomBatch(rand, snapshots[last] as Model);
          expect(commit(changes)).toBe(last + 1);
          expect([...cat.stateAt('s', last + 1)].map(describeVersion)).toEqual(sortedModel(model));
        });
      }
    });
  });
}
