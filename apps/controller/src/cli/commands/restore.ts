import { HavenError, isWithin, normalizeRelPath } from '@haven/core';
import { OverwritePolicy, StartRestoreResponseSchema } from '@haven/proto';
import { defineCommand } from '../command.js';
import { parseHostTarget } from '../host-target.js';
import { NO_WAIT_OPTION, runJob } from '../job-watch.js';
import { pointSelectorOf } from '../point-selector.js';
import { AT_OPTION } from './files.js';
import { restoreLocally } from './restore-local.js';

const OVERWRITE: Record<string, OverwritePolicy> = {
  'if-changed': OverwritePolicy.IF_CHANGED,
  always: OverwritePolicy.ALWAYS,
  never: OverwritePolicy.NEVER,
};

/** Normalized, without paths already inside another one (their subtree is restored anyway). */
export function restorePaths(paths: readonly string[]): string[] {
  const normalized = [...new Set(paths.map((p) => normalizeRelPath(p)))].sort();
  if (normalized.includes('')) return [];
  return normalized.filter((p) => !normalized.some((q) => q !== p && isWithin(q, p)));
}

export const restoreCommand = defineCommand({
  path: ['restore'],
  summary: 'restore a point onto a host (a job run by its agent) or into a local directory',
  usage: 'SET [--at POINT] [--path P]... (--to HOST:DIR | --local DIR) [--overwrite POLICY]',
  details:
    '--to HOST:DIR starts a restore job on that host\'s agent and follows it. --local DIR restores on this\n' +
    'machine: entries from ListFiles, chunks from ReadChunks, each file verified against its content root,\n' +
    'written to a temp file, fsynced and renamed; nothing is written outside DIR. A block set is restored as\n' +
    'DIR/SET.img. --json prints the RestoreResult (for --local with a "failures" list).',
  args: [{ name: 'SET' }],
  options: {
    ...AT_OPTION,
    path: { type: 'string', multiple: true, value: 'P', description: 'restore only this entry and its subtree (repeatable)' },
    to: { type: 'string', value: 'HOST:DIR', description: 'restore on an enrolled host into an absolute directory (or device)' },
    local: { type: 'string', value: 'DIR', description: 'restore into a directory on this machine' },
    overwrite: { type: 'string', value: 'POLICY', description: 'existing entries: if-changed (default), always, or never' },
    ...NO_WAIT_OPTION,
  },
  async run(ctx, [set], opts) {
    if ((opts.to === undefined) === (opts.local === undefined)) throw new HavenError('INVALID_ARGUMENT', 'give exactly one of --to HOST:DIR or --local DIR');
    const overwrite = OVERWRITE[opts.overwrite ?? 'if-changed'];
    if (overwrite === undefined) throw new HavenError('INVALID_ARGUMENT', `--overwrite must be if-changed, always or never, got "${opts.overwrite ?? ''}"`);
    const point = pointSelectorOf(opts.at, opts.branch);
    const paths = restorePaths(opts.path ?? []);
    if (opts.local !== undefined) {
      if (opts['no-wait'] === true) throw new HavenError('INVALID_ARGUMENT', '--no-wait applies to --to restores only');
      if (opts.local === '') throw new HavenError('INVALID_ARGUMENT', '--local needs a directory');
      // Locally an unchanged file is rewritten: cheaper than hashing it first, same result.
      return restoreLocally(ctx, { set: set ?? '', point, paths, dir: opts.local, overwrite: overwrite === OverwritePolicy.NEVER ? 'never' : 'always' });
    }
    const to = parseHostTarget(opts.to ?? '', '--to', { allowSite: false });
    const res = await ctx.admin().startRestore({
      set: set ?? '',
      ...(point === undefined ? {} : { point }),
      paths,
      host: to.host,
      target: to.target,
      overwrite,
    });
    return runJob(ctx, StartRestoreResponseSchema, res, { noWait: opts['no-wait'] });
  },
});
