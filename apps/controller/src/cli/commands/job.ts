import { create } from '@bufbuild/protobuf';
import { HavenError } from '@haven/core';
import { CancelJobResponseSchema, GetJobResponseSchema, JobKindSchema, JobStateSchema, ListJobsResponseSchema } from '@haven/proto';
import type { Job, JobKind, JobState } from '@haven/proto';
import { defineCommand } from '../command.js';
import { parseCount } from '../flag-values.js';
import { enumChoices, enumFromLabel, enumLabel, formatAgo, formatFields, formatPercent } from '../format.js';
import { assertJobSucceeded, describeJobResult, jobFields, jobKindLabel } from '../job-result.js';
import { followJob } from '../job-watch.js';
import { printJson, printLines, printTable } from '../output.js';

const PAGE_SIZE = 100;

export const jobListCommand = defineCommand({
  path: ['job', 'list'],
  summary: 'list jobs, newest first',
  usage: '[--set SET] [--kind KIND] [--state STATE]... [--limit N]',
  args: [],
  options: {
    set: { type: 'string', value: 'SET', description: 'only jobs of this set' },
    kind: { type: 'string', value: 'KIND', description: `only this kind: ${enumChoices(JobKindSchema)}` },
    state: { type: 'string', multiple: true, value: 'STATE', description: `only these states (repeatable): ${enumChoices(JobStateSchema)}` },
    limit: { type: 'string', value: 'N', description: 'list at most N jobs (default 100)' },
  },
  async run(ctx, _args, opts) {
    const kind = opts.kind === undefined ? 0 : enumFromLabel(JobKindSchema, opts.kind);
    if (kind === undefined) throw new HavenError('INVALID_ARGUMENT', `--kind must be one of ${enumChoices(JobKindSchema)}`);
    const states = (opts.state ?? []).map((s) => {
      const v = enumFromLabel(JobStateSchema, s);
      if (v === undefined) throw new HavenError('INVALID_ARGUMENT', `--state must be one of ${enumChoices(JobStateSchema)}`);
      return v as JobState;
    });
    const limit = opts.limit === undefined ? PAGE_SIZE : parseCount(opts.limit, '--limit');
    const jobs: Job[] = [];
    let pageToken = '';
    do {
      const res = await ctx.admin().listJobs({ set: opts.set ?? '', kind: kind as JobKind, states, pageSize: Math.min(1000, limit - jobs.length), pageToken });
      jobs.push(...res.jobs.slice(0, limit - jobs.length));
      pageToken = res.nextPageToken;
    } while (pageToken !== '' && jobs.length < limit);
    if (ctx.json) return printJson(ctx.io.stdout, ListJobsResponseSchema, create(ListJobsResponseSchema, { jobs }));
    if (jobs.length === 0) return printLines(ctx.io.stdout, 'no jobs');
    const now = ctx.clock.now();
    return printTable(
      ctx.io.stdout,
      ['ID', 'KIND', 'STATE', 'SET', 'PROGRESS', 'CREATED', 'DESCRIPTION'],
      jobs.map((j) => [j.id, jobKindLabel(j), enumLabel(JobStateSchema, j.state), j.set || '-', formatPercent(j.progress?.fraction ?? 0), formatAgo(j.createdAt, now), j.description]),
    );
  },
});

export const jobShowCommand = defineCommand({
  path: ['job', 'show'],
  summary: 'show one job with its progress, error or result',
  usage: 'ID',
  args: [{ name: 'ID' }],
  options: {},
  async run(ctx, [id]) {
    const res = await ctx.admin().getJob({ id: id ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, GetJobResponseSchema, res);
    if (res.job === undefined) return printLines(ctx.io.stdout, `job ${id ?? ''}: no details`);
    return printLines(ctx.io.stdout, formatFields(jobFields(res.job, ctx.clock.now())));
  },
});

export const jobWatchCommand = defineCommand({
  path: ['job', 'watch'],
  summary: 'follow a job until it ends; exits with its outcome',
  usage: 'ID',
  details: 'Progress goes to stderr (one updating line on a terminal). With --json, one WatchJobResponse snapshot per line.',
  args: [{ name: 'ID' }],
  options: {},
  async run(ctx, [id]) {
    const job = await followJob(ctx, id ?? '');
    assertJobSucceeded(job);
    if (!ctx.json) await printLines(ctx.io.stdout, ...describeJobResult(job));
    return 0;
  },
});

export const jobCancelCommand = defineCommand({
  path: ['job', 'cancel'],
  summary: 'cancel a job (idempotent; it reaches CANCELLED once its runner stopped)',
  usage: 'ID',
  args: [{ name: 'ID' }],
  options: {},
  async run(ctx, [id]) {
    const res = await ctx.admin().cancelJob({ id: id ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, CancelJobResponseSchema, res);
    return printLines(ctx.io.stdout, `cancel requested for job ${id ?? ''} (${res.job === undefined ? '?' : enumLabel(JobStateSchema, res.job.state)})`);
  },
});
