import { availableParallelism } from 'node:os';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { HavenError, errorCodeOf, systemClock } from '@haven/core';
import type { Clock } from '@haven/core';
import { AgentService, JobKind, JobState, SetKind, createChannel } from '@haven/proto';
import type { JobAssignment, JobUpdateSchema, SessionRequestSchema, SetConfig } from '@haven/proto';
import type { Logger } from '@haven/runtime';
import { connectHaven } from '@haven/transport';
import { createStateDb } from './capture/index.js';
import { AGENT_VERSION } from './identity/enroll.js';
import { agentStatePaths, loadIdentity } from './identity/agent-identity.js';
import type { AgentIdentity } from './identity/agent-identity.js';
import { runRestoreJob } from './jobs/restore-job.js';
import { createSetWorker } from './pipeline/set-worker.js';
import type { SetWorker } from './pipeline/set-worker.js';
import { createBackoff } from './session/backoff.js';
import { createChunkUploader } from './uplink/chunk-uploader.js';
import { uplinkFromClient } from './uplink/uplink.js';

type SessionRequest = MessageInitShape<typeof SessionRequestSchema>;
type JobUpdateInit = MessageInitShape<typeof JobUpdateSchema>;

const STATUS_EVERY_MS = 1000;
/** Reports triggered by a state change are gathered for this long (bursts of commits). */
const REPORT_SOON_MS = 50;

export interface AgentRuntime {
  readonly identity: AgentIdentity;
  stop(): Promise<void>;
}

/**
 * `haven-agent run`: one long-lived session to the controller (reconnecting with
 * jittered backoff), a worker per protected set, and the jobs the controller assigns.
 * Capture never waits for the controller: while it is away, changes queue in the state DB.
 */
export async function startAgent(options: { stateDir: string; logger: Logger; clock?: Clock }): Promise<AgentRuntime> {
  const clock = options.clock ?? systemClock;
  const paths = agentStatePaths(options.stateDir);
  const { identity, tls } = loadIdentity(paths);
  const log = options.logger.child({ host: identity.hostName });
  const db = createStateDb({ path: paths.stateDb, clock });
  const conn = connectHaven(identity.controller, tls);
  const client = conn.client(AgentService);
  const uplink = uplinkFromClient(client);
  // zstd is the agent's largest CPU cost: with cores to spare it runs beside chunking and the
  // transport on a worker thread. On two cores the workload itself needs the second one.
  const uploader = createChunkUploader(uplink, { compressInWorker: availableParallelism() >= 4 });
  const workers = new Map<string, SetWorker>();
  const jobs = new Map<string, AbortController>();
  let online = false;
  let stopped = false;
  let session: ReturnType<typeof createChannel<SessionRequest>> | undefined;
  const stopSignal = new AbortController();

  const send = (m: SessionRequest): void => {
    if (session !== undefined && !session.closed) session.push(m);
  };

  function applyConfig(sets: readonly SetConfig[]): void {
    const seen = new Set<string>();
    for (const s of sets) {
      if (s.kind !== SetKind.FILES || s.source.case !== 'path') {
        log.warn('set kind not supported by this agent; skipped', { set: s.name });
        continue;
      }
      seen.add(s.name);
      const cfg = {
        name: s.name,
        path: s.source.value,
        excludes: [...s.excludes],
        epoch: Number(s.epoch),
        paused: s.paused,
        ...(s.debounce === undefined ? {} : { debounceMs: Number(s.debounce.seconds) * 1000 + s.debounce.nanos / 1e6 }),
        ...(s.rescanInterval === undefined ? {} : { rescanIntervalMs: Number(s.rescanInterval.seconds) * 1000 }),
      };
      const w = workers.get(s.name);
      if (w === undefined) {
        workers.set(s.name, createSetWorker({ config: cfg, db, uplink, uploader, clock, logger: log, online: () => online, onChange: reportSoon }));
        reportSoon();
        log.info('protecting set', { set: s.name, path: cfg.path });
      } else w.update(cfg);
    }
    for (const [name, w] of workers) {
      if (seen.has(name)) continue;
      workers.delete(name);
      void w.stop().then(() => db.removeSet(name));
      log.info('set removed', { set: name });
    }
  }

  async function runJob(a: JobAssignment): Promise<void> {
    const abort = new AbortController();
    jobs.set(a.jobId, abort);
    const update = (state: JobState, extra: Pick<JobUpdateInit, 'progress' | 'result' | 'error'> = {}): void =>
      send({ msg: { case: 'jobUpdate', value: { jobId: a.jobId, state, ...extra } } });
    update(JobState.RUNNING);
    try {
      switch (a.spec.case) {
        case 'restore': {
          const result = await runRestoreJob({ client, spec: a.spec.value, jobId: a.jobId, signal: abort.signal, progress: (p) => update(JobState.RUNNING, { progress: p }) });
          update(JobState.SUCCEEDED, { result: { result: { case: 'restore', value: result } } });
          break;
        }
        case 'rescan': {
          const w = workers.get(a.spec.value.set);
          if (w === undefined) throw new HavenError('NOT_FOUND', `this agent does not protect set "${a.spec.value.set}"`);
          const queued = await w.rescan();
          update(JobState.SUCCEEDED, { result: { result: { case: 'rescan', value: { changedFiles: BigInt(queued) } } } });
          break;
        }
        default:
          throw new HavenError('UNIMPLEMENTED', `this agent cannot run ${JobKind[a.kind] ?? 'unknown'} jobs`);
      }
    } catch (err) {
      const code = abort.signal.aborted ? 'CANCELLED' : errorCodeOf(err);
      update(code === 'CANCELLED' ? JobState.CANCELLED : JobState.FAILED, { error: { code, message: err instanceof Error ? err.message : String(err) } });
      log.warn('job failed', { job: a.jobId, code });
    } finally {
      jobs.delete(a.jobId);
    }
  }

  /**
   * A status report shortly after a set's state moves, not only on the next tick: a new set
   * that finishes its first sync within a second would otherwise have nothing reported yet,
   * and `haven status` right after a commit would show the state before it.
   */
  let reportTimer: NodeJS.Timeout | undefined;
  function reportSoon(): void {
    if (reportTimer !== undefined) return;
    reportTimer = setTimeout(() => {
      reportTimer = undefined;
      void statusReports().catch(() => undefined);
    }, REPORT_SOON_MS);
  }

  async function statusReports(): Promise<void> {
    for (const w of workers.values()) {
      const s = await w.status();
      send({
        msg: {
          case: 'setStatus',
          value: {
            set: s.set,
            state: s.state,
            lagSeconds: s.lagSeconds,
            backlogBytes: BigInt(s.backlogBytes),
            backlogFiles: BigInt(s.backlogFiles),
            lastCommittedSeq: BigInt(s.lastCommittedSeq),
            ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
          },
        },
      });
    }
  }

  async function oneSession(): Promise<void> {
    const outbox = createChannel<SessionRequest>({ highWaterMark: 256 });
    session = outbox;
    outbox.push({
      msg: {
        case: 'hello',
        value: {
          agentVersion: AGENT_VERSION,
          hostName: identity.hostName,
          capabilities: ['files', 'restore', 'rescan'],
          sets: [...workers.keys()].map((name) => ({ name, lastCommittedSeq: BigInt(db.getSetState(name).committedSeq), epoch: BigInt(db.getSetState(name).epoch) })),
        },
      },
    });
    const timer = setInterval(() => {
      send({ msg: { case: 'heartbeat', value: { agentTime: timestampFromMs(clock.now()) } } });
      void statusReports().catch(() => undefined);
    }, STATUS_EVERY_MS);
    try {
      for await (const m of client.session(outbox, { signal: stopSignal.signal })) {
        switch (m.msg.case) {
          case 'welcome':
            online = true;
            backoff.reset();
            log.info('session established', { site: m.msg.value.siteName });
            break;
          case 'config':
            applyConfig(m.msg.value.sets);
            break;
          case 'assignJob':
            void runJob(m.msg.value);
            break;
          case 'cancelJob':
            jobs.get(m.msg.value.jobId)?.abort(new HavenError('CANCELLED', 'cancelled by the controller'));
            break;
          default:
            break;
        }
      }
    } finally {
      clearInterval(timer);
      online = false;
      outbox.close();
    }
  }

  const backoff = createBackoff();
  const loop = (async () => {
    while (!stopped) {
      try {
        await oneSession();
      } catch (err) {
        if (stopped) break;
        const code = errorCodeOf(err);
        if (code === 'UNAUTHENTICATED' || code === 'PERMISSION_DENIED') log.error('controller refused this agent', { code, message: err instanceof Error ? err.message : String(err) });
        else log.warn('session lost', { code });
      }
      if (stopped) break;
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  })();

  return {
    identity,
    async stop() {
      stopped = true;
      clearTimeout(reportTimer);
      stopSignal.abort();
      for (const j of jobs.values()) j.abort();
      await Promise.all([...workers.values()].map((w) => w.stop()));
      await loop.catch(() => undefined);
      conn.close();
      db.close();
    },
  };
}
