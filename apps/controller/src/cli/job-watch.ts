import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { HavenError } from '@haven/core';
import { WatchJobResponseSchema } from '@haven/proto';
import type { Job } from '@haven/proto';
import type { CliContext } from './context.js';
import { assertJobSucceeded, describeJobResult, isTerminal, jobKindLabel, jobProgressText } from './job-result.js';
import { printJson, printJsonLine, printLines } from './output.js';
import { createProgressLine } from './progress-line.js';

/**
 * Follows a job to its end over WatchJob: with `--json` every snapshot is printed as one
 * line (the WatchJobResponse messages); otherwise progress goes to stderr. Returns the
 * terminal snapshot.
 */
export async function followJob(ctx: CliContext, id: string): Promise<Job> {
  const progress = ctx.json ? undefined : createProgressLine(ctx.io, ctx.clock);
  let last: Job | undefined;
  for await (const res of ctx.admin().watchJob({ id })) {
    if (res.job === undefined) continue;
    last = res.job;
    if (ctx.json) await printJsonLine(ctx.io.stdout, WatchJobResponseSchema, res);
    else progress?.update(jobProgressText(last), `${last.state}:${last.progress?.phase ?? ''}`);
  }
  if (last !== undefined) progress?.done(jobProgressText(last));
  else progress?.done();
  if (last === undefined || !isTerminal(last)) {
    throw new HavenError('UNAVAILABLE', `watching job ${id} ended before the job did; follow it with: haven job watch ${id}`);
  }
  return last;
}

export interface RunJobOptions {
  /** Print the started job and return instead of following it. */
  noWait?: boolean | undefined;
  /** Human output of the finished job (default: its result summary). */
  render?: (job: Job) => Promise<void>;
  /** Runs after success in every output mode; throws to fail the command (e.g. damage found). */
  check?: (job: Job) => void;
}

/** The common tail of every command that starts a job: follow it, show the result, exit by its state. */
export async function runJob<D extends DescMessage>(
  ctx: CliContext,
  schema: D,
  response: MessageShape<D> & { job?: Job | undefined },
  options: RunJobOptions = {},
): Promise<number> {
  const job = response.job;
  if (job === undefined) throw new HavenError('INTERNAL', 'the controller started no job');
  if (options.noWait === true) {
    if (ctx.json) {
      await printJson(ctx.io.stdout, schema, response);
    } else {
      await printLines(ctx.io.stdout, job.id);
      await printLines(ctx.io.stderr, `started ${jobKindLabel(job)} job ${job.id}; follow it with: haven job watch ${job.id}`);
    }
    return 0;
  }
  const final = await followJob(ctx, job.id);
  assertJobSucceeded(final);
  if (!ctx.json) {
    if (options.render !== undefined) await options.render(final);
    else await printLines(ctx.io.stdout, ...describeJobResult(final));
  }
  options.check?.(final);
  return 0;
}

/** `--no-wait`, shared by every job-starting command. */
export const NO_WAIT_OPTION = {
  'no-wait': { type: 'boolean', description: 'print the job id and return instead of following the job' },
} as const;
