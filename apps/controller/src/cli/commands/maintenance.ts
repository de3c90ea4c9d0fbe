import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { parseDurationMs } from '@haven/runtime';
import { HavenError } from '@haven/core';
import { GcResponseSchema, PruneResponseSchema, VerifyResponseSchema } from '@haven/proto';
import type { Job } from '@haven/proto';
import { defineCommand } from '../command.js';
import type { CliContext } from '../context.js';
import { parsePercent } from '../flag-values.js';
import { describeJobResult } from '../job-result.js';
import { NO_WAIT_OPTION, runJob } from '../job-watch.js';
import { printLines, printTable } from '../output.js';
import { formatBytes } from '../render-table.js';

const seqRange = (from: bigint, to: bigint, exclusiveEnd: boolean): string =>
  to === 0n ? `${from}..current` : `${from}..${exclusiveEnd ? to - 1n : to}`;

async function renderVerify(ctx: CliContext, job: Job): Promise<void> {
  if (job.result?.result.case !== 'verify') return printLines(ctx.io.stdout, ...describeJobResult(job));
  const v = job.result.result.value;
  await printLines(ctx.io.stdout, ...describeJobResult(job));
  if (v.damagedFiles.length > 0) {
    await printTable(ctx.io.stdout, ['SET', 'DAMAGED FILE', 'BRANCH', 'SEQS'], v.damagedFiles.map((f) => [f.set, f.path, f.branch || '-', seqRange(f.seqFrom, f.seqTo, true)]));
  }
  if (v.damagedPoints.length > 0) {
    await printTable(ctx.io.stdout, ['SET', 'BRANCH', 'DAMAGED POINTS'], v.damagedPoints.map((p) => [p.set, p.branch || '-', seqRange(p.seqFrom, p.seqTo, false)]));
  }
  if (v.damagedChunkIds.length > 0) {
    await printLines(ctx.io.stdout, 'damaged chunks:', ...v.damagedChunkIds.map((id) => `  ${Buffer.from(id).toString('hex')}`));
  }
}

/** A verify that found damage fails the command, so scripts and cron notice. */
function checkVerify(job: Job): void {
  if (job.result?.result.case !== 'verify') return;
  const v = job.result.result.value;
  if (v.damagedChunks > 0n) {
    throw new HavenError('CORRUPT', `verify found ${v.damagedChunks} damaged chunks in ${v.damagedFiles.length} file versions, ${v.damagedPoints.length} point ranges`);
  }
}

export const verifyCommand = defineCommand({
  path: ['verify'],
  summary: 'read back and re-hash stored chunks; report damaged chunks, files and points',
  usage: '[SET] [--sample PCT]',
  details: 'Without SET every stored chunk is checked. Exits non-zero (CORRUPT) when damage is found.',
  args: [{ name: 'SET', optional: true }],
  options: {
    sample: { type: 'string', value: 'PCT', description: 'check only this percentage of chunks, in (0, 100] (default 100)' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    const samplePercent = opts.sample === undefined ? 0 : parsePercent(opts.sample, '--sample');
    const res = await ctx.admin().verify({ set: set ?? '', samplePercent });
    return runJob(ctx, VerifyResponseSchema, res, { noWait: opts['no-wait'], render: (job) => renderVerify(ctx, job), check: checkVerify });
  },
});

export const pruneCommand = defineCommand({
  path: ['prune'],
  summary: 'apply retention: drop points no rule keeps (disk space is released by gc)',
  usage: '[--dry-run] [--set SET]',
  args: [],
  options: {
    'dry-run': { type: 'boolean', description: 'report what would be dropped without dropping it' },
    set: { type: 'string', value: 'SET', description: 'only this set' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, _args, opts) {
    const res = await ctx.admin().prune({ dryRun: opts['dry-run'] === true, set: opts.set ?? '' });
    return runJob(ctx, PruneResponseSchema, res, {
      noWait: opts['no-wait'],
      render: async (job) => {
        if (job.result?.result.case !== 'prune') return;
        const p = job.result.result.value;
        if (p.dryRun) await printLines(ctx.io.stdout, 'dry run: nothing was changed');
        if (p.sets.length === 0) return printLines(ctx.io.stdout, 'no sets to prune');
        await printTable(
          ctx.io.stdout,
          ['SET', 'KEPT', 'DROPPED', 'VERSIONS-DROPPED', 'BYTES-DROPPED'],
          p.sets.map((s) => [s.set, s.pointsKept, s.pointsDropped, s.versionsDropped, formatBytes(s.bytesDropped)]),
        );
      },
    });
  },
});

export const gcCommand = defineCommand({
  path: ['gc'],
  summary: 'delete unreferenced chunks and compact packs (safe while ingest continues)',
  usage: '[--grace 1h]',
  args: [],
  options: {
    grace: { type: 'string', value: 'DURATION', description: 'keep unreferenced chunks touched this recently: uploads still in progress (default 1h; 0s removes all)' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, _args, opts) {
    const res = await ctx.admin().gc(opts.grace === undefined ? {} : { grace: durationFromMs(parseDurationMs(opts.grace)) });
    return runJob(ctx, GcResponseSchema, res, { noWait: opts['no-wait'] });
  },
});
