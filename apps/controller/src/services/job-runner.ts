import { EventEmitter, on } from 'node:events';
import { create, fromJson, toJson } from '@bufbuild/protobuf';
import type { JsonValue, MessageInitShape } from '@bufbuild/protobuf';
import { HavenError, errorCodeOf, findHavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import type { Logger } from '@haven/runtime';
import { JobKind, JobResultSchema, JobSchema, JobState as PbJobState, ProgressSchema } from '@haven/proto';
import type { Job as PbJob, JobResult, Progress } from '@haven/proto';
import type { Catalog, Job, JobState } from '../catalog/catalog.js';
import { msToTimestamp } from '../rpc/convert.js';

export type ProgressInit = MessageInitShape<typeof ProgressSchema>;
export type JobResultInit = MessageInitShape<typeof JobResultSchema>;

/** The catalog stores a job's kind as a lowercase word; the wire uses the enum. */
export function jobKindWord(kind: JobKind): string {
  return JobKind[kind].toLowerCase();
}

const STATE_TO_PROTO: Record<JobState, PbJobState> = {
  PENDING: PbJobState.PENDING,
  RUNNING: PbJobState.RUNNING,
  SUCCEEDED: PbJobState.SUCCEEDED,
  FAILED: PbJobState.FAILED,
  CANCELLED: PbJobState.CANCELLED,
};

export function jobToProto(job: Job, hostName?: string): PbJob {
  const kindKey = job.kind.toUpperCase() as keyof typeof JobKind;
  return create(JobSchema, {
    id: job.id,
    kind: JobKind[kindKey] ?? JobKind.UNSPECIFIED,
    state: STATE_TO_PROTO[job.state],
    // Progress and result are stored as the canonical JSON of their messages.
    progress: job.progress !== null && typeof job.progress === 'object' ? fromJson(ProgressSchema, job.progress as JsonValue) : create(ProgressSchema),
    set: job.setName ?? '',
    host: hostName ?? '',
    description: (job.spec as { description?: string } | null)?.description ?? '',
    actor: (job.spec as { actor?: string } | null)?.actor ?? '',
    createdAt: msToTimestamp(job.createdAtMs),
    ...(job.startedAtMs === null ? {} : { startedAt: msToTimestamp(job.startedAtMs) }),
    ...(job.finishedAtMs === null ? {} : { finishedAt: msToTimestamp(job.finishedAtMs) }),
    ...(job.errorCode === null ? {} : { error: { code: job.errorCode, message: job.errorMessage ?? '' } }),
    ...(job.result !== null && typeof job.result === 'object' ? { result: fromJson(JobResultSchema, job.result as JsonValue) } : {}),
  });
}

export interface LocalJobContext {
  readonly job: Job;
  readonly signal: AbortSignal;
  progress(p: ProgressInit): void;
}

export interface JobRunner {
  /** Creates a job that runs in the controller and returns at once; `watch` follows it. */
  runLocal(options: {
    kind: JobKind;
    setName?: string;
    actor: string;
    description?: string;
    run: (ctx: LocalJobContext) => Promise<JobResultInit>;
  }): Job;
  /** Creates a job for an agent: the caller delivers the assignment over the session. */
  createForAgent(options: { kind: JobKind; setName: string; hostId: string; actor: string; description?: string; spec?: unknown }): Job;
  /** An agent reported progress, success or failure of one of its jobs. */
  agentUpdate(hostId: string, update: { jobId: string; state: PbJobState; progress?: Progress; result?: JobResult; error?: { code: string; message: string } }): void;
  cancel(id: string): Job;
  get(id: string): Job;
  /** Snapshots of the job: now, on every change, until (and including) its final state. */
  watch(id: string, signal: AbortSignal): AsyncIterable<Job>;
}

const FINAL = new Set<JobState>(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/**
 * Jobs live in the catalog (they survive restarts and show in `haven job list`); this
 * runner executes controller-side jobs, records agents' reports, and wakes watchers.
 */
export function createJobRunner(deps: { catalog: Catalog; clock: Clock; logger: Logger }): JobRunner {
  const { catalog } = deps;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const running = new Map<string, AbortController>();
  const changed = (id: string): void => {
    events.emit(id);
  };

  // A controller restart ends jobs it was running itself: nothing resumes them.
  for (const j of catalog.listJobs({ activeOnly: true })) {
    if (j.hostId === null) catalog.finishJob(j.id, { state: 'FAILED', errorCode: 'ABORTED', errorMessage: 'controller restarted while the job ran' });
  }

  function get(id: string): Job {
    const j = catalog.getJob(id);
    if (j === undefined) throw new HavenError('NOT_FOUND', `no job ${id}`);
    return j;
  }

  return {
    runLocal({ kind, setName, actor, description, run }) {
      const job = catalog.createJob({ kind: jobKindWord(kind), ...(setName === undefined ? {} : { setName }), spec: { actor, description: description ?? '' } });
      const abort = new AbortController();
      running.set(job.id, abort);
      void (async () => {
        try {
          const started = catalog.startJob(job.id);
          changed(job.id);
          const result = await run({
            job: started,
            signal: abort.signal,
            progress: (p) => {
              catalog.updateJobProgress(job.id, toJson(ProgressSchema, create(ProgressSchema, p)));
              changed(job.id);
            },
          });
          if (abort.signal.aborted) throw new HavenError('CANCELLED', 'job cancelled');
          catalog.finishJob(job.id, { state: 'SUCCEEDED', result: toJson(JobResultSchema, create(JobResultSchema, result)) });
        } catch (err) {
          const code = errorCodeOf(err);
          const message = findHavenError(err)?.message ?? (err instanceof Error ? err.message : String(err));
          if (code !== 'CANCELLED') deps.logger.warn('job failed', { job: job.id, kind: job.kind, code, message });
          catalog.finishJob(job.id, { state: code === 'CANCELLED' ? 'CANCELLED' : 'FAILED', errorCode: code, errorMessage: message });
        } finally {
          running.delete(job.id);
          changed(job.id);
        }
      })();
      return job;
    },
    createForAgent({ kind, setName, hostId, actor, description, spec }) {
      const job = catalog.createJob({ kind: jobKindWord(kind), setName, hostId, spec: { actor, description: description ?? '', ...(spec as object) } });
      changed(job.id);
      return job;
    },
    agentUpdate(hostId, u) {
      const job = catalog.getJob(u.jobId);
      if (job === undefined || job.hostId !== hostId || FINAL.has(job.state)) return;
      if (job.state === 'PENDING') catalog.startJob(job.id);
      if (u.progress !== undefined) catalog.updateJobProgress(job.id, toJson(ProgressSchema, u.progress));
      if (u.state === PbJobState.SUCCEEDED) {
        catalog.finishJob(job.id, { state: 'SUCCEEDED', ...(u.result === undefined ? {} : { result: toJson(JobResultSchema, u.result) }) });
      } else if (u.state === PbJobState.FAILED || u.state === PbJobState.CANCELLED) {
        catalog.finishJob(job.id, {
          state: u.state === PbJobState.FAILED ? 'FAILED' : 'CANCELLED',
          errorCode: u.error?.code ?? 'INTERNAL',
          errorMessage: u.error?.message ?? '',
        });
      }
      changed(job.id);
    },
    cancel(id) {
      const job = get(id);
      if (FINAL.has(job.state)) return job;
      const local = running.get(id);
      if (local !== undefined) local.abort(new HavenError('CANCELLED', 'job cancelled'));
      else catalog.finishJob(id, { state: 'CANCELLED', errorCode: 'CANCELLED', errorMessage: 'cancelled by an admin' });
      changed(id);
      return get(id);
    },
    get,
    async *watch(id, signal) {
      let job = get(id);
      // Subscribe before the first snapshot so no change between the two is missed.
      const ticks = on(events, id, { signal });
      yield job;
      if (FINAL.has(job.state)) return;
      try {
        for await (const _ of ticks) {
          const next = get(id);
          if (next.state !== job.state || next.progress !== job.progress || JSON.stringify(next.progress) !== JSON.stringify(job.progress)) {
            job = next;
            yield job;
          }
          if (FINAL.has(job.state)) return;
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    },
  };
}
