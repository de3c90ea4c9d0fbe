import { PauseSetResponseSchema, RemoveSetResponseSchema, RescanSetResponseSchema, ResumeSetResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { confirmByName } from '../confirm.js';
import { NO_WAIT_OPTION, runJob } from '../job-watch.js';
import { printJson, printLines } from '../output.js';

export const setPauseCommand = defineCommand({
  path: ['set', 'pause'],
  summary: 'stop capturing a set (its points stay)',
  usage: 'SET',
  args: [{ name: 'SET' }],
  options: {},
  async run(ctx, [name]) {
    const res = await ctx.admin().pauseSet({ name: name ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, PauseSetResponseSchema, res);
    return printLines(ctx.io.stdout, `paused set ${name ?? ''}`);
  },
});

export const setResumeCommand = defineCommand({
  path: ['set', 'resume'],
  summary: 'capture a paused set again, starting with a rescan',
  usage: 'SET',
  args: [{ name: 'SET' }],
  options: {},
  async run(ctx, [name]) {
    const res = await ctx.admin().resumeSet({ name: name ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, ResumeSetResponseSchema, res);
    return printLines(ctx.io.stdout, `resumed set ${name ?? ''}`);
  },
});

export const setRescanCommand = defineCommand({
  path: ['set', 'rescan'],
  summary: 'run a reconcile scan of a set now',
  usage: 'SET [--full] [--no-wait]',
  args: [{ name: 'SET' }],
  options: {
    full: { type: 'boolean', description: 're-read and re-hash every file instead of trusting unchanged metadata' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [name], opts) {
    const res = await ctx.admin().rescanSet({ name: name ?? '', full: opts.full === true });
    return runJob(ctx, RescanSetResponseSchema, res, { noWait: opts['no-wait'] });
  },
});

export const setRemoveCommand = defineCommand({
  path: ['set', 'remove'],
  summary: "stop protecting a set and delete its catalog at this site",
  usage: 'SET [--yes]',
  details:
    'Every recovery point of the set at this site is deleted (its chunks are reclaimed by gc); replica sites keep\n' +
    'their copies. Asks for the set name on a terminal; without one, --yes is required.',
  args: [{ name: 'SET' }],
  options: {
    yes: { type: 'boolean', description: 'do not ask for confirmation' },
  },
  async run(ctx, [name], opts) {
    await confirmByName(ctx.io, {
      yes: opts.yes === true,
      name: name ?? '',
      action: `remove set ${name ?? ''}`,
      warning: `Set ${name ?? ''} will stop being protected and every one of its recovery points at this site will be deleted.`,
    });
    const res = await ctx.admin().removeSet({ name: name ?? '' });
    if (ctx.json) return printJson(ctx.io.stdout, RemoveSetResponseSchema, res);
    return printLines(ctx.io.stdout, `removed set ${name ?? ''}`);
  },
});
