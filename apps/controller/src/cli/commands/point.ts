import { create } from '@bufbuild/protobuf';
import { HavenError } from '@haven/core';
import { CreateCheckpointResponseSchema, ListPointsResponseSchema } from '@haven/proto';
import type { Point } from '@haven/proto';
import { defineCommand } from '../command.js';
import { parseCount } from '../flag-values.js';
import { formatTime } from '../format.js';
import { NO_WAIT_OPTION, runJob } from '../job-watch.js';
import { printJson, printLines, printTable } from '../output.js';
import { formatBytes } from '../render-table.js';

const PAGE_SIZE = 1000;

export const pointListCommand = defineCommand({
  path: ['point', 'list'],
  summary: 'list the recovery points of a set',
  usage: 'SET [--from SEQ] [--to SEQ] [--newest-first] [--divergent] [--limit N]',
  details: 'Every journal seq inside the CDP window is a point; older ones exist as retention kept them.\n' +
    'With --json all pages are merged into one ListPointsResponse.',
  args: [{ name: 'SET' }],
  options: {
    from: { type: 'string', value: 'SEQ', description: 'smallest seq to list' },
    to: { type: 'string', value: 'SEQ', description: 'largest seq to list' },
    'newest-first': { type: 'boolean', description: 'newest points first' },
    divergent: { type: 'boolean', description: 'also list divergent points (split brain branches)' },
    limit: { type: 'string', value: 'N', description: 'list at most N points' },
  },
  async run(ctx, [set], opts) {
    const limit = opts.limit === undefined ? Infinity : parseCount(opts.limit, '--limit');
    const seqFrom = opts.from === undefined ? 0n : BigInt(parseCount(opts.from, '--from'));
    const seqTo = opts.to === undefined ? 0n : BigInt(parseCount(opts.to, '--to'));
    if (seqTo !== 0n && seqTo < seqFrom) throw new HavenError('INVALID_ARGUMENT', '--to is below --from');
    const points: Point[] = [];
    let pageToken = '';
    do {
      const res = await ctx.admin().listPoints({
        set: set ?? '',
        seqFrom,
        seqTo,
        includeDivergent: opts.divergent === true,
        newestFirst: opts['newest-first'] === true,
        pageSize: Math.min(PAGE_SIZE, limit === Infinity ? PAGE_SIZE : limit - points.length),
        pageToken,
      });
      points.push(...res.points.slice(0, limit - points.length));
      pageToken = res.nextPageToken;
    } while (pageToken !== '' && points.length < limit);
    if (ctx.json) return printJson(ctx.io.stdout, ListPointsResponseSchema, create(ListPointsResponseSchema, { points }));
    if (points.length === 0) return printLines(ctx.io.stdout, `set ${set ?? ''} has no points yet`);
    const branches = points.some((p) => p.branch !== '');
    return printTable(
      ctx.io.stdout,
      ['SEQ', 'TIME', 'EPOCH', 'FILES', 'SIZE', 'CHANGES', 'LABEL', ...(branches ? ['BRANCH'] : [])],
      points.map((p) => [p.seq, formatTime(p.time), p.epoch, p.files, formatBytes(p.bytes), p.changes, p.label, ...(branches ? [p.branch || '-'] : [])]),
    );
  },
});

export const checkpointCommand = defineCommand({
  path: ['checkpoint'],
  summary: "commit a labeled, application-consistent point (runs the agent's hooks)",
  usage: 'SET --label L [--hook NAME] [--no-wait]',
  args: [{ name: 'SET' }],
  options: {
    label: { type: 'string', value: 'L', description: 'label of the point, 1 to 128 characters' },
    hook: { type: 'string', value: 'NAME', description: "hook configured on the agent (default: the set's default hook)" },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    const label = opts.label ?? '';
    if (label.length < 1 || label.length > 128) throw new HavenError('INVALID_ARGUMENT', '--label L is required, 1 to 128 characters');
    const res = await ctx.admin().createCheckpoint({ set: set ?? '', label, hook: opts.hook ?? '' });
    return runJob(ctx, CreateCheckpointResponseSchema, res, { noWait: opts['no-wait'] });
  },
});
