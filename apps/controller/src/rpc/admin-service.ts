import { HavenError, chunkIdFromBytes, chunkIdToBytes, normalizeRelPath, parseRetentionPolicy, resolveContentRoot } from '@haven/core';
import { Compression, JobKind, ReadChunksResponseSchema, encodeChunkMessage } from '@haven/proto';
import type { ServiceImpl, SetSpec , AdminService} from '@haven/proto';
import type { HandlerContext } from '@haven/proto';
import type { ProtectionSet, ProtectionSetPatch } from '../catalog/catalog.js';
import type { ControllerContext } from '../services/controller-context.js';
import { collectGarbage, pruneSets, verifyStore } from '../services/maintenance.js';
import { jobToProto } from '../services/job-runner.js';
import { setConfigsFor } from './agent-service.js';
import { hostView, setView } from './admin-views.js';
import { fileEntryToProto, msToTimestamp, pointSelectorFromProto, pointToProto, timestampToMs } from './convert.js';

const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const LIST_BATCH = 1000;
const MAX_READ_IDS = 1024;
const READ_PIECE = 1024 * 1024;
const DEFAULT_TOKEN_TTL_MS = 3_600_000;
/**
 * Unreferenced chunks touched this recently survive a gc: an upload in progress (a huge
 * file can take hours) commits after it, and its chunks must still be there.
 */
const DEFAULT_GC_GRACE_MS = 3_600_000;


export function createAdminService(ctx: ControllerContext): Partial<ServiceImpl<typeof AdminService>> {
  const { catalog } = ctx;

  /** Runs an admin action: requires the admin credential and writes the audit log either way. */
  function audited<T>(call: HandlerContext, action: string, target: string, fn: (actor: string) => T): T {
    const admin = ctx.callers.requireAdmin(call);
    const actor = `admin:${admin.name}`;
    try {
      const out = fn(actor);
      catalog.appendAudit({ actor, action, target: target === '' ? '*' : target, result: 'OK' });
      return out;
    } catch (err) {
      catalog.appendAudit({ actor, action, target: target === '' ? '*' : target, result: err instanceof HavenError ? err.code : 'INTERNAL' });
      throw err;
    }
  }

  function getSet(name: string): ProtectionSet {
    const s = catalog.getSet(name);
    if (s === undefined) throw new HavenError('NOT_FOUND', `no set "${name}"`);
    return s;
  }

  /** Tells the set's agent about a configuration change, if it is connected. */
  function pushConfig(hostName: string): void {
    const host = catalog.getHost(hostName);
    if (host !== undefined) ctx.sessions.send(host.id, setConfigsFor(ctx, hostName));
  }

  function patchFromSpec(spec: SetSpec | undefined, paths: readonly string[]): ProtectionSetPatch {
    if (spec === undefined) throw new HavenError('INVALID_ARGUMENT', 'update needs a spec');
    const all = paths.length === 0;
    const want = (f: string): boolean => all || paths.includes(f);
    const patch: { -readonly [K in keyof ProtectionSetPatch]: ProtectionSetPatch[K] } = {};
    if (want('excludes')) patch.excludes = [...spec.excludes];
    if (want('retention')) {
      if (spec.retention !== '') parseRetentionPolicy(spec.retention);
      patch.retention = spec.retention === '' ? null : spec.retention;
    }
    if (want('replicate_to')) patch.replicateTo = [...spec.replicateTo];
    if (want('standby')) patch.standby = spec.standby === undefined || spec.standby.host === '' ? null : { host: spec.standby.host, target: spec.standby.target };
    if (want('sync')) patch.sync = spec.sync;
    return patch;
  }

  return {
    async getStatus(_req, call) {
      ctx.callers.requireAdmin(call);
      return {
        sites: [{ id: ctx.site.siteId, name: ctx.site.siteName, local: true, online: true, caFingerprint: ctx.caFingerprint }, ...catalog.listPeerSites().map((p) => ({ id: p.id, name: p.name, address: p.address, local: false }))],
        hosts: catalog.listHosts().map((h) => hostView(ctx, h)),
        sets: catalog.listSets().map((s) => setView(ctx, s)),
        serverTime: msToTimestamp(ctx.clock.now()),
        version: '0.1.0',
      };
    },

    async createToken(req, call) {
      return audited(call, 'token.create', req.host, () => {
        const ttl = req.ttl === undefined ? DEFAULT_TOKEN_TTL_MS : Number(req.ttl.seconds) * 1000 + Math.floor(req.ttl.nanos / 1e6);
        const t = ctx.enrollment.createToken(req.host, ttl);
        return { token: t.token, host: req.host, expiresAt: msToTimestamp(t.expiresAtMs) };
      });
    },

    async listHosts(_req, call) {
      ctx.callers.requireAdmin(call);
      return { hosts: catalog.listHosts().map((h) => hostView(ctx, h)) };
    },

    async getHost(req, call) {
      ctx.callers.requireAdmin(call);
      const h = catalog.getHost(req.name);
      if (h === undefined) throw new HavenError('NOT_FOUND', `no host "${req.name}"`);
      return { host: hostView(ctx, h) };
    },

    async removeHost(req, call) {
      return audited(call, 'host.remove', req.name, () => {
        const sets = catalog.listSets().filter((s) => s.host === req.name);
        if (sets.length > 0 && !req.force) {
          throw new HavenError('FAILED_PRECONDITION', `host "${req.name}" still has sets (${sets.map((s) => s.name).join(', ')}); remove them or use --force`);
        }
        const h = catalog.removeHost(req.name);
        const session = ctx.sessions.get(h.id);
        if (session !== undefined) ctx.sessions.close(session);
        return {};
      });
    },

    async createSet(req, call) {
      const spec = req.spec;
      return audited(call, 'set.create', spec?.name ?? '', () => {
        if (spec === undefined) throw new HavenError('INVALID_ARGUMENT', 'create set needs a spec');
        if (!SET_NAME.test(spec.name)) throw new HavenError('INVALID_ARGUMENT', `set name "${spec.name}" must be letters, digits, '.', '_' or '-' (max 63)`);
        if (catalog.getHost(spec.host) === undefined) throw new HavenError('NOT_FOUND', `no host "${spec.host}" (enroll it with \`haven token create --host ${spec.host}\`)`);
        if (spec.source.case === undefined || spec.source.value === '') throw new HavenError('INVALID_ARGUMENT', 'a set needs --path DIR or --device PATH');
        if (!spec.source.value.startsWith('/')) throw new HavenError('INVALID_ARGUMENT', `source "${spec.source.value}" must be an absolute path on the host`);
        if (spec.retention !== '') parseRetentionPolicy(spec.retention);
        const set = catalog.createSet({
          name: spec.name,
          host: spec.host,
          kind: spec.source.case === 'device' ? 'block' : 'files',
          source: spec.source.value,
          excludes: [...spec.excludes],
          retention: spec.retention === '' ? null : spec.retention,
          replicateTo: [...spec.replicateTo],
          standby: spec.standby === undefined || spec.standby.host === '' ? null : { host: spec.standby.host, target: spec.standby.target },
          sync: spec.sync,
        });
        pushConfig(set.host);
        return { set: setView(ctx, set) };
      });
    },

    async listSets(req, call) {
      ctx.callers.requireAdmin(call);
      return { sets: catalog.listSets().filter((s) => req.host === '' || s.host === req.host).map((s) => setView(ctx, s)) };
    },

    async getSet(req, call) {
      ctx.callers.requireAdmin(call);
      return { set: setView(ctx, getSet(req.name)) };
    },

    async updateSet(req, call) {
      return audited(call, 'set.update', req.name, () => {
        getSet(req.name);
        const s = catalog.updateSet(req.name, patchFromSpec(req.spec, req.updateMask?.paths ?? []));
        pushConfig(s.host);
        return { set: setView(ctx, s) };
      });
    },

    async pauseSet(req, call) {
      return audited(call, 'set.pause', req.name, () => {
        const s = catalog.updateSet(getSet(req.name).name, { paused: true });
        pushConfig(s.host);
        return { set: setView(ctx, s) };
      });
    },

    async resumeSet(req, call) {
      return audited(call, 'set.resume', req.name, () => {
        const s = catalog.updateSet(getSet(req.name).name, { paused: false });
        pushConfig(s.host);
        return { set: setView(ctx, s) };
      });
    },

    async rescanSet(req, call) {
      return audited(call, 'set.rescan', req.name, (actor) => {
        const s = getSet(req.name);
        const host = catalog.getHost(s.host);
        if (host === undefined) throw new HavenError('NOT_FOUND', `no host "${s.host}"`);
        const job = ctx.jobs.createForAgent({ kind: JobKind.RESCAN, setName: s.name, hostId: host.id, actor, description: `rescan ${s.name}` });
        ctx.sessions.send(host.id, { msg: { case: 'assignJob', value: { jobId: job.id, kind: JobKind.RESCAN, spec: { case: 'rescan', value: { set: s.name, full: req.full } } } } });
        return { job: jobToProto(job, host.name) };
      });
    },

    async removeSet(req, call) {
      return audited(call, 'set.remove', req.name, () => {
        const s = getSet(req.name);
        catalog.removeSet(s.name);
        ctx.scope.removeSet(s.name);
        pushConfig(s.host);
        return {};
      });
    },

    async listPoints(req, call) {
      ctx.callers.requireAdmin(call);
      getSet(req.set);
      let points = catalog.listPoints(req.set, {
        ...(req.seqFrom > 0n ? { fromSeq: Number(req.seqFrom) } : {}),
        includeDivergent: req.includeDivergent,
      });
      if (req.seqTo > 0n) points = points.filter((p) => p.seq <= Number(req.seqTo));
      if (req.newestFirst) points = points.reverse();
      if (req.pageSize > 0) points = points.slice(0, req.pageSize);
      return { points: points.map((p) => pointToProto(p)) };
    },

    async *listFiles(req, call) {
      ctx.callers.requireAdmin(call);
      const set = getSet(req.set);
      const point = catalog.resolvePoint(set.name, pointSelectorFromProto(req.point), req.point?.branch ? { branch: req.point.branch } : {});
      const prefix = req.path === '' ? '' : normalizeRelPath(req.path);
      let batch = [];
      for (const v of catalog.stateAt(set.name, point.seq, { prefix, recursive: req.recursive, branch: point.branch })) {
        if (req.startAfter !== '' && v.path <= req.startAfter) continue;
        batch.push(fileEntryToProto(v));
        if (batch.length >= LIST_BATCH) {
          yield { entries: batch, point: pointToProto(point) };
          batch = [];
        }
      }
      yield { entries: batch, point: pointToProto(point) };
    },

    async *readFile(req, call) {
      ctx.callers.requireAdmin(call);
      const set = getSet(req.set);
      const point = catalog.resolvePoint(set.name, pointSelectorFromProto(req.point), req.point?.branch ? { branch: req.point.branch } : {});
      const path = normalizeRelPath(req.path);
      const v = catalog.getVersion(set.name, path, point.seq, { branch: point.branch });
      if (v === undefined) throw new HavenError('NOT_FOUND', `no file "${path}" in set "${set.name}" at seq ${point.seq}`);
      if (v.type !== 'file' || v.contentRoot === null) throw new HavenError('INVALID_ARGUMENT', `"${path}" is a ${v.type}, not a file`);
      const refs = await resolveContentRoot(v.contentRoot, (id) => ctx.store.get(id));
      const start = Number(req.offset);
      const end = req.length > 0n ? start + Number(req.length) : v.size;
      let pos = 0;
      let first = true;
      for (const ref of refs) {
        const from = pos;
        pos += ref.length;
        if (pos <= start || from >= end) continue;
        const data = await ctx.store.get(ref.id);
        const piece = data.subarray(Math.max(0, start - from), Math.min(ref.length, end - from));
        for (let o = 0; o < piece.length; o += READ_PIECE) {
          yield {
            ...(first ? { entry: fileEntryToProto(v), point: pointToProto(point) } : {}),
            offset: BigInt(from + Math.max(0, start - from) + o),
            data: piece.subarray(o, o + READ_PIECE),
          };
          first = false;
        }
      }
      if (first) yield { entry: fileEntryToProto(v), point: pointToProto(point), offset: BigInt(start), data: new Uint8Array(0) };
    },

    async *readChunks(req, call) {
      ctx.callers.requireAdmin(call);
      getSet(req.set);
      if (req.ids.length > MAX_READ_IDS) throw new HavenError('RESOURCE_EXHAUSTED', `at most ${MAX_READ_IDS} ids per read`);
      const ids = req.ids.map((b) => chunkIdFromBytes(b));
      const inSet = ctx.scope.has(req.set, ids);
      for (const [i, id] of ids.entries()) {
        // Reads go through a set, like every other data access: a chunk the set does not hold is absent.
        if (inSet[i] !== true) throw new HavenError('NOT_FOUND', `chunk ${id} is not part of set "${req.set}"`);
        // The stored form (authenticated, not decompressed): zstd chunks cross the network
        // compressed and the reader decompresses and verifies them. Encoded by hand: one
        // allocation and one copy of the chunk (protobuf-es's writer copies it thrice).
        const c = await ctx.store.getStored(id);
        yield encodeChunkMessage(ReadChunksResponseSchema, 'chunk', { id: chunkIdToBytes(id), compression: c.zstd ? Compression.ZSTD : Compression.NONE, data: c.data, rawLength: c.rawLength });
      }
    },

    async startRestore(req, call) {
      return audited(call, 'restore.start', req.set, (actor) => {
        const set = getSet(req.set);
        const hostName = req.host === '' ? set.host : req.host;
        const host = catalog.getHost(hostName);
        if (host === undefined) throw new HavenError('NOT_FOUND', `no host "${hostName}"`);
        if (req.target === '' || !req.target.startsWith('/')) throw new HavenError('INVALID_ARGUMENT', 'restore needs an absolute target directory on the host');
        const point = catalog.resolvePoint(set.name, pointSelectorFromProto(req.point), req.point?.branch ? { branch: req.point.branch } : {});
        const paths = req.paths.map((p) => normalizeRelPath(p));
        const job = ctx.jobs.createForAgent({
          kind: JobKind.RESTORE,
          setName: set.name,
          hostId: host.id,
          actor,
          description: `restore ${set.name}@${point.seq} to ${hostName}:${req.target}`,
          spec: { seq: point.seq, branch: point.branch, paths, target: req.target },
        });
        ctx.sessions.send(host.id, {
          msg: {
            case: 'assignJob',
            value: { jobId: job.id, kind: JobKind.RESTORE, spec: { case: 'restore', value: { set: set.name, seq: BigInt(point.seq), branch: point.branch, paths, target: req.target } } },
          },
        });
        return { job: jobToProto(job, host.name) };
      });
    },

    async verify(req, call) {
      return audited(call, 'verify', req.set, (actor) => {
        if (req.set !== '') getSet(req.set);
        if (!(req.samplePercent >= 0 && req.samplePercent <= 100)) throw new HavenError('INVALID_ARGUMENT', '--sample must be between 0 and 100');
        const job = ctx.jobs.runLocal({
          kind: JobKind.VERIFY,
          ...(req.set === '' ? {} : { setName: req.set }),
          actor,
          description: req.set === '' ? 'verify all' : `verify ${req.set}`,
          run: async (j) => ({
            result: {
              case: 'verify',
              value: await verifyStore(ctx, { ...(req.set === '' ? {} : { setName: req.set }), samplePercent: req.samplePercent, signal: j.signal, progress: j.progress }),
            },
          }),
        });
        return { job: jobToProto(job) };
      });
    },

    async prune(req, call) {
      return audited(call, req.dryRun ? 'prune.dry-run' : 'prune', req.set, (actor) => {
        if (req.set !== '') getSet(req.set);
        const job = ctx.jobs.runLocal({
          kind: JobKind.PRUNE,
          ...(req.set === '' ? {} : { setName: req.set }),
          actor,
          description: req.dryRun ? 'prune (dry run)' : 'prune',
          run: async () => ({ result: { case: 'prune', value: pruneSets(ctx, { dryRun: req.dryRun, ...(req.set === '' ? {} : { setName: req.set }) }) } }),
        });
        return { job: jobToProto(job) };
      });
    },

    async gc(req, call) {
      return audited(call, 'gc', '', (actor) => {
        const graceMs = req.grace === undefined ? DEFAULT_GC_GRACE_MS : Number(req.grace.seconds) * 1000 + Math.floor(req.grace.nanos / 1e6);
        if (!(graceMs >= 0)) throw new HavenError('INVALID_ARGUMENT', 'gc grace must not be negative');
        const job = ctx.jobs.runLocal({
          kind: JobKind.GC,
          actor,
          description: 'garbage collection',
          run: async (j) => ({ result: { case: 'gc', value: await collectGarbage(ctx, { signal: j.signal, progress: j.progress, graceMs }) } }),
        });
        return { job: jobToProto(job) };
      });
    },

    async listJobs(req, call) {
      ctx.callers.requireAdmin(call);
      const jobs = catalog.listJobs({ ...(req.set === '' ? {} : { setName: req.set }), ...(req.pageSize > 0 ? { limit: req.pageSize } : {}) });
      const hosts = new Map(catalog.listHosts({ includeRemoved: true }).map((h) => [h.id, h.name]));
      return { jobs: jobs.map((j) => jobToProto(j, j.hostId === null ? undefined : hosts.get(j.hostId))) };
    },

    async getJob(req, call) {
      ctx.callers.requireAdmin(call);
      return { job: jobToProto(ctx.jobs.get(req.id)) };
    },

    async *watchJob(req, call) {
      ctx.callers.requireAdmin(call);
      for await (const j of ctx.jobs.watch(req.id, call.signal)) yield { job: jobToProto(j) };
    },

    async cancelJob(req, call) {
      return audited(call, 'job.cancel', req.id, () => {
        const job = ctx.jobs.cancel(req.id);
        if (job.hostId !== null) ctx.sessions.send(job.hostId, { msg: { case: 'cancelJob', value: { jobId: job.id } } });
        return { job: jobToProto(job) };
      });
    },

    async listAuditEvents(req, call) {
      ctx.callers.requireAdmin(call);
      const since = timestampToMs(req.since);
      const until = timestampToMs(req.until);
      const events = catalog
        .listAudit({ newestFirst: true, limit: req.pageSize > 0 ? req.pageSize : 1000 })
        .filter((e) => (req.actor === '' || e.actor === req.actor) && (req.action === '' || e.action === req.action) && (req.target === '' || e.target === req.target))
        .filter((e) => (since === undefined || e.timeMs >= since) && (until === undefined || e.timeMs <= until));
      return { events: events.map((e) => ({ id: BigInt(e.id), time: msToTimestamp(e.timeMs), actor: e.actor, action: e.action, target: e.target, result: e.result })) };
    },
  };
}
