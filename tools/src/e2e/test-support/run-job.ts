import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { expect } from 'vitest';
import { JobState } from '@haven/proto';
import type { GcReport, Job, PruneReport, VerifyReport } from '@haven/proto';
import type { AdminClient } from './read-back.js';

/** Follows a job started by `start` until its final state and returns that snapshot. */
export async function runJob(admin: AdminClient, start: Promise<{ job?: Job | undefined }>): Promise<Job> {
  const { job } = await start;
  if (job === undefined) throw new Error('the job RPC answered without a job');
  let last: Job | undefined;
  for await (const r of admin.watchJob({ id: job.id })) last = r.job;
  if (last === undefined) throw new Error(`watchJob ${job.id} ended without a snapshot`);
  return last;
}

function succeeded(job: Job): Job {
  expect(job.state, `job ${job.id} (${job.description}) ended ${JobState[job.state]}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`).toBe(
    JobState.SUCCEEDED,
  );
  return job;
}

export async function runVerify(admin: AdminClient, request: { set?: string; samplePercent?: number } = {}): Promise<VerifyReport> {
  const job = succeeded(await runJob(admin, admin.verify(request)));
  if (job.result?.result.case !== 'verify') throw new Error(`verify job ${job.id} has no verify report`);
  return job.result.result.value;
}

export async function runPrune(admin: AdminClient, request: { dryRun: boolean; set?: string }): Promise<PruneReport> {
  const job = succeeded(await runJob(admin, admin.prune(request)));
  if (job.result?.result.case !== 'prune') throw new Error(`prune job ${job.id} has no prune report`);
  return job.result.result.value;
}

/**
 * Runs a gc to completion. Tests sweep with no grace unless they say otherwise (`grace:
 * 'default'` leaves it to the controller), so every unreferenced chunk goes at once.
 */
export async function runGc(admin: AdminClient, options: { grace?: 'default' | number } = {}): Promise<GcReport> {
  const grace = options.grace ?? 0;
  const job = succeeded(await runJob(admin, admin.gc(grace === 'default' ? {} : { grace: durationFromMs(grace) })));
  if (job.result?.result.case !== 'gc') throw new Error(`gc job ${job.id} has no gc report`);
  return job.result.result.value;
}
