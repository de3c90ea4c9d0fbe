import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { HavenError, chunkIdFromBytes, chunkIdToBytes, errorCodeOf, normalizeRelPath } from '@haven/core';
import { Compression, DownloadChunksResponseSchema, SetKind as PbSetKind, SetRole, encodeChunkMessage } from '@haven/proto';
import type { AgentService, Chunk, ServiceImpl, SessionRequest, UploadChunksRequest } from '@haven/proto';
import type { Host, ProtectionSet } from '../catalog/catalog.js';
import type { ControllerContext } from '../services/controller-context.js';
import type { SessionMessage } from '../services/session-hub.js';
import { changeFromProto, fileEntryToProto, msToTimestamp, pointSelectorFromProto, pointToProto, setStateFromProto } from './convert.js';

/** Default and largest upload window: bytes an agent may have in flight unacknowledged. */
const DEFAULT_WINDOW = 32 * 1024 * 1024;
const MAX_WINDOW = 128 * 1024 * 1024;
const HEARTBEAT_MS = 5_000;
const LIST_BATCH = 1000;
const MAX_COMMIT_CHANGES = 10_000;
const MAX_DOWNLOAD_IDS = 1024;
const STATUS_PERSIST_MS = 10_000;
const TOUCH_EVERY_MS = 10_000;
/** Chunks of one upload stream verified and stored concurrently (the verify threads keep a few each). */
const UPLOAD_PIPELINE = 16;

/** The host's own set, or PERMISSION_DENIED / NOT_FOUND. */
export function ownSet(ctx: ControllerContext, host: Host, name: string): ProtectionSet {
  const set = ctx.catalog.getSet(name);
  if (set === undefined) throw new HavenError('NOT_FOUND', `no set "${name}"`);
  if (set.host !== host.name) throw new HavenError('PERMISSION_DENIED', `set "${name}" belongs to host "${set.host}"`);
  return set;
}

/** The configuration an agent receives for its sets. */
export function setConfigsFor(ctx: ControllerContext, hostName: string): SessionMessage {
  const sets = ctx.catalog.listSets().filter((s) => s.host === hostName);
  return {
    msg: {
      case: 'config',
      value: {
        sets: sets.map((s) => ({
          name: s.name,
          kind: s.kind === 'block' ? PbSetKind.BLOCK : PbSetKind.FILES,
          role: SetRole.ACTIVE,
          source: s.kind === 'block' ? { case: 'device' as const, value: s.source } : { case: 'path' as const, value: s.source },
          excludes: [...s.excludes],
          epoch: BigInt(s.epoch),
          paused: s.paused,
          headSeq: BigInt(s.lastSeq),
        })),
      },
    },
  };
}

export function createAgentService(ctx: ControllerContext): Partial<ServiceImpl<typeof AgentService>> {
  const { catalog, ingest, store, scope } = ctx;

  return {
    async enroll(req) {
      const { host, certPem } = ctx.enrollment.enroll({ token: req.token, csrPem: req.csrPem, hostName: req.hostName });
      catalog.appendAudit({ actor: `host:${host.name}`, action: 'host.enroll', target: host.name, result: 'OK', details: { agentVersion: req.agentVersion } });
      ctx.logger.info('host enrolled', { host: host.name });
      return { certificatePem: certPem, caCertificatePem: ctx.ca.certPem, hostId: host.id, hostName: host.name, siteName: ctx.site.siteName };
    },

    async *session(requests, call) {
      const host = ctx.callers.requireHost(call);
      const session = ctx.sessions.open(host.id, host.name, ctx.clock.now());
      catalog.touchHost(host.id);
      ctx.logger.info('agent connected', { host: host.name });
      // Read the agent's messages concurrently with writing ours.
      const reader = (async () => {
        let touchedAt = ctx.clock.now();
        for await (const m of requests as AsyncIterable<SessionRequest>) {
          // last-seen is for humans; a catalog write (fsync) per message is not worth it.
          if (ctx.clock.now() - touchedAt >= TOUCH_EVERY_MS) {
            touchedAt = ctx.clock.now();
            catalog.touchHost(host.id);
          }
          switch (m.msg.case) {
            case 'hello':
              session.agentVersion = m.msg.value.agentVersion;
              session.capabilities = [...m.msg.value.capabilities];
              break;
            case 'setStatus': {
              const r = m.msg.value;
              const state = setStateFromProto(r.state);
              const set = catalog.getSet(r.set);
              if (state !== undefined && set !== undefined && set.host === host.name) {
                const now = ctx.clock.now();
                const prev = ctx.sessions.liveStatus(r.set);
                ctx.sessions.reportStatus(r.set, { state, lagSeconds: r.lagSeconds, backlogBytes: Number(r.backlogBytes), backlogFiles: Number(r.backlogFiles), atMs: now });
                // The catalog keeps a copy for restarts and history; every report would cost an fsync.
                if (prev === undefined || prev.state !== state || set.lastReportAtMs === null || now - set.lastReportAtMs >= STATUS_PERSIST_MS) {
                  catalog.reportSetStatus(r.set, { state, lagSeconds: r.lagSeconds, backlogBytes: Number(r.backlogBytes) });
                }
                ctx.metrics.setLagSeconds.set({ set: r.set }, r.lagSeconds);
                ctx.metrics.setBacklogBytes.set({ set: r.set }, Number(r.backlogBytes));
              }
              break;
            }
            case 'jobUpdate': {
              const u = m.msg.value;
              ctx.jobs.agentUpdate(host.id, {
                jobId: u.jobId,
                state: u.state,
                ...(u.progress === undefined ? {} : { progress: u.progress }),
                ...(u.result === undefined ? {} : { result: u.result }),
                ...(u.error === undefined ? {} : { error: { code: u.error.code, message: u.error.message } }),
              });
              break;
            }
            default:
              break;
          }
        }
      })().finally(() => ctx.sessions.close(session));
      reader.catch(() => undefined);
      const openJobs = catalog.listJobs({ activeOnly: true, hostId: host.id }).map((j) => j.id);
      yield {
        msg: {
          case: 'welcome',
          value: {
            hostId: host.id,
            hostName: host.name,
            siteName: ctx.site.siteName,
            serverTime: msToTimestamp(ctx.clock.now()),
            heartbeatInterval: durationFromMs(HEARTBEAT_MS),
            openJobIds: openJobs,
          },
        },
      };
      yield setConfigsFor(ctx, host.name);
      try {
        for await (const m of session.outbox) yield m;
      } finally {
        ctx.sessions.close(session);
        ctx.logger.info('agent disconnected', { host: host.name });
      }
    },

    async findMissingChunks(req, call) {
      const host = ctx.callers.requireHost(call);
      const set = ownSet(ctx, host, req.set);
      const ids = req.ids.map((b) => chunkIdFromBytes(b));
      return { missingIndexes: await ingest.findMissing(set, ids) };
    },

    async *uploadChunks(requests, call) {
      const host = ctx.callers.requireHost(call);
      const it = (requests as AsyncIterable<UploadChunksRequest>)[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true || first.value.msg.case !== 'open') {
        throw new HavenError('INVALID_ARGUMENT', 'an upload stream must start with an open message');
      }
      const set = ownSet(ctx, host, first.value.msg.value.set);
      const asked = Number(first.value.msg.value.requestedWindowBytes);
      yield { msg: { case: 'grant', value: { windowBytes: BigInt(asked > 0 ? Math.min(asked, MAX_WINDOW) : DEFAULT_WINDOW) } } };
      let chunks = 0n;
      let bytes = 0n;
      // Several chunks are verified and stored at once (each store write is a round trip
      // to the I/O pool); acks still go out in order, so they stay cumulative.
      const inflight: Array<{ done: Promise<void>; size: number }> = [];
      const accept = async (c: Chunk): Promise<void> => {
        try {
          await ingest.accept(set, {
            id: chunkIdFromBytes(c.id),
            compressed: c.compression === Compression.ZSTD,
            data: c.data,
            rawLength: c.rawLength,
          });
        } catch (err) {
          ctx.metrics.ingestRejected.inc({ code: errorCodeOf(err) });
          throw err;
        }
        ctx.metrics.ingestChunks.inc({ set: set.name });
        ctx.metrics.ingestWireBytes.inc({ set: set.name }, c.data.length);
        ctx.metrics.ingestRawBytes.inc({ set: set.name }, c.rawLength);
      };
      const ackHead = async () => {
        const head = inflight.shift()!;
        await head.done;
        chunks += 1n;
        bytes += BigInt(head.size);
        return { msg: { case: 'ack' as const, value: { chunks, bytes } } };
      };
      try {
        let nextReq = it.next();
        for (;;) {
          // Ack a finished head as soon as it is done, without waiting for more requests:
          // the sender may be waiting for exactly that ack.
          const head = inflight[0];
          const step = head === undefined
            ? { kind: 'req' as const, r: await nextReq }
            : await Promise.race([
                nextReq.then((r) => ({ kind: 'req' as const, r })),
                head.done.then(
                  () => ({ kind: 'ack' as const }),
                  () => ({ kind: 'ack' as const }),
                ),
              ]);
          if (step.kind === 'ack') {
            yield await ackHead();
            continue;
          }
          if (step.r.done === true) break;
          const m = step.r.value.msg;
          if (m.case !== 'chunk') throw new HavenError('INVALID_ARGUMENT', 'only chunk messages may follow open');
          const done = accept(m.value);
          // Failures surface when the chunk's turn to be acked comes.
          done.catch(() => undefined);
          inflight.push({ done, size: m.value.data.length });
          nextReq = it.next();
          while (inflight.length >= UPLOAD_PIPELINE) yield await ackHead();
        }
        while (inflight.length > 0) yield await ackHead();
      } finally {
        // A failed or cancelled stream still lets accepted work finish before the call ends.
        await Promise.allSettled(inflight.map((f) => f.done));
      }
    },

    async commit(req, call) {
      const host = ctx.callers.requireHost(call);
      const set = ownSet(ctx, host, req.set);
      if (req.changes.length > MAX_COMMIT_CHANGES) {
        throw new HavenError('RESOURCE_EXHAUSTED', `a commit carries at most ${MAX_COMMIT_CHANGES} changes, got ${req.changes.length}`);
      }
      if (req.batchId === '') throw new HavenError('INVALID_ARGUMENT', 'commit needs a batch_id (its idempotency key)');
      if (req.expectedBaseSeq !== undefined && Number(req.expectedBaseSeq) !== set.lastSeq) {
        throw new HavenError('ABORTED', `set "${set.name}" is at seq ${set.lastSeq}, not ${req.expectedBaseSeq}`, { details: { headSeq: String(set.lastSeq) } });
      }
      const stopTimer = ctx.metrics.commitSeconds.startTimer({ set: set.name });
      const result = await ingest.commit({
        set,
        epoch: Number(req.epoch),
        batchId: req.batchId,
        changes: req.changes.map(changeFromProto),
        label: req.label,
      });
      stopTimer();
      if (!result.duplicate) ctx.metrics.commits.inc({ set: set.name });
      return { seq: BigInt(result.seq), time: msToTimestamp(result.timeMs), duplicate: result.duplicate };
    },

    async *downloadChunks(req, call) {
      const host = ctx.callers.requireHost(call);
      const set = ownSet(ctx, host, req.set);
      if (req.ids.length > MAX_DOWNLOAD_IDS) throw new HavenError('RESOURCE_EXHAUSTED', `at most ${MAX_DOWNLOAD_IDS} ids per download`);
      const ids = req.ids.map((b) => chunkIdFromBytes(b));
      const allowed = scope.has(set.name, ids);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (allowed[i] !== true) throw new HavenError('PERMISSION_DENIED', `chunk ${id} is not part of set "${set.name}"`);
        // The stored form (authenticated, not decompressed): zstd chunks cross the network
        // compressed and the reader decompresses and verifies them. Encoded by hand: one
        // allocation and one copy of the chunk (protobuf-es's writer copies it thrice).
        const c = await store.getStored(id);
        yield encodeChunkMessage(DownloadChunksResponseSchema, 'chunk', { id: chunkIdToBytes(id), compression: c.zstd ? Compression.ZSTD : Compression.NONE, data: c.data, rawLength: c.rawLength });
      }
    },

    async *listFiles(req, call) {
      const host = ctx.callers.requireHost(call);
      const set = ownSet(ctx, host, req.set);
      const point = catalog.resolvePoint(set.name, pointSelectorFromProto(req.point), req.point?.branch ? { branch: req.point.branch } : {});
      const prefix = req.path === '' ? '' : normalizeRelPath(req.path);
      let batch = [];
      let first = true;
      for (const v of catalog.stateAt(set.name, point.seq, { prefix, recursive: req.recursive, branch: point.branch })) {
        if (req.startAfter !== '' && v.path <= req.startAfter) continue;
        batch.push(fileEntryToProto(v));
        if (batch.length >= LIST_BATCH) {
          yield { entries: batch, ...(first ? { point: pointToProto(point) } : {}) };
          first = false;
          batch = [];
        }
      }
      yield { entries: batch, ...(first ? { point: pointToProto(point) } : {}) };
    },
  };
}
