import { HavenError } from '@haven/core';
import { DrillResponseSchema, FailbackResponseSchema, FailoverResponseSchema, MigrateResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { confirmByName } from '../confirm.js';
import { parseHostTarget, requireAbsolute } from '../host-target.js';
import { NO_WAIT_OPTION, runJob } from '../job-watch.js';
import { pointSelectorOf } from '../point-selector.js';

const YES_OPTION = {
  yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation (required without a terminal)' },
} as const;

const CONFIRM_NOTE = 'Asks for the set name on a terminal; without a terminal it refuses unless --yes is given.';

export const drillCommand = defineCommand({
  path: ['drill'],
  summary: 'restore a point on the standby in isolation, verify it and measure the RTO',
  usage: 'SET [--at POINT] [--target PATH]',
  details: 'Run at the site of the set\'s standby host. Replication continues meanwhile; the drill target is removed afterwards.',
  args: [{ name: 'SET' }],
  options: {
    at: { type: 'string', value: 'POINT', description: 'point to drill (default: the latest point replicated here)' },
    target: { type: 'string', value: 'PATH', description: 'isolated target on the standby host (default: next to the standby target)' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    const point = pointSelectorOf(opts.at);
    const target = opts.target === undefined ? '' : requireAbsolute(opts.target, '--target');
    const res = await ctx.admin().drill({ set: set ?? '', target, ...(point === undefined ? {} : { point }) });
    return runJob(ctx, DrillResponseSchema, res, { noWait: opts['no-wait'] });
  },
});

export const failoverCommand = defineCommand({
  path: ['failover'],
  summary: "make the set's standby at this site the active source (new epoch)",
  usage: 'SET [--at POINT] [--yes]',
  details:
    'Run at the replica site that takes over. A reachable home site is fenced and drained first (no data lost);\n' +
    `otherwise its later writes are kept as a divergent branch. ${CONFIRM_NOTE}`,
  args: [{ name: 'SET' }],
  options: {
    at: { type: 'string', value: 'POINT', description: 'point to fail over to (default: the latest replicated here)' },
    ...YES_OPTION,
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    const point = pointSelectorOf(opts.at);
    await confirmByName(ctx.io, {
      yes: opts.yes === true,
      name: set ?? '',
      action: `fail over set ${set ?? ''}`,
      warning: `Set ${set ?? ''} will fail over: its standby at this site becomes the active source under a new epoch.`,
    });
    const res = await ctx.admin().failover({ set: set ?? '', ...(point === undefined ? {} : { point }) });
    return runJob(ctx, FailoverResponseSchema, res, { noWait: opts['no-wait'] });
  },
});

export const failbackCommand = defineCommand({
  path: ['failback'],
  summary: 'move a failed-over set back to its original host (delta sync, new epoch)',
  usage: 'SET [--yes]',
  details: `Run at the site of the set's original host. ${CONFIRM_NOTE}`,
  args: [{ name: 'SET' }],
  options: { ...YES_OPTION, ...NO_WAIT_OPTION },
  async run(ctx, [set], opts) {
    await confirmByName(ctx.io, {
      yes: opts.yes === true,
      name: set ?? '',
      action: `fail back set ${set ?? ''}`,
      warning: `Set ${set ?? ''} will fail back: its original host becomes the active source again under a new epoch.`,
    });
    const res = await ctx.admin().failback({ set: set ?? '' });
    return runJob(ctx, FailbackResponseSchema, res, { noWait: opts['no-wait'] });
  },
});

export const migrateCommand = defineCommand({
  path: ['migrate'],
  summary: 'hot-migrate a set to another host and target (reports the downtime)',
  usage: 'SET --to HOST:TARGET [--yes]',
  details:
    'Run at the site of the destination host. Replicates until the delta converges, pauses writes (agent hook),\n' +
    `sends the final delta and cuts over with a new epoch. ${CONFIRM_NOTE}`,
  args: [{ name: 'SET' }],
  options: {
    to: { type: 'string', value: 'HOST:TARGET', description: 'destination host (enrolled here) and absolute target path' },
    ...YES_OPTION,
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    if (opts.to === undefined) throw new HavenError('INVALID_ARGUMENT', 'missing --to HOST:TARGET');
    const to = parseHostTarget(opts.to, '--to', { allowSite: false });
    await confirmByName(ctx.io, {
      yes: opts.yes === true,
      name: set ?? '',
      action: `migrate set ${set ?? ''}`,
      warning: `Set ${set ?? ''} will migrate to ${to.host}:${to.target}: writes pause briefly, then that host becomes the active source.`,
    });
    const res = await ctx.admin().migrate({ set: set ?? '', host: to.host, target: to.target });
    return runJob(ctx, MigrateResponseSchema, res, { noWait: opts['no-wait'] });
  },
});
