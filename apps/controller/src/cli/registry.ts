import { HavenError } from '@haven/core';
import type { OptionSpec } from '@haven/runtime';
import { GLOBAL_OPTIONS } from './command.js';
import type { Command } from './command.js';
import { catCommand, lsCommand } from './commands/files.js';
import { drillCommand, failbackCommand, failoverCommand, migrateCommand } from './commands/dr.js';
import { hostListCommand, hostRemoveCommand, hostShowCommand } from './commands/host.js';
import { jobCancelCommand, jobListCommand, jobShowCommand, jobWatchCommand } from './commands/job.js';
import { gcCommand, pruneCommand, verifyCommand } from './commands/maintenance.js';
import { checkpointCommand, pointListCommand } from './commands/point.js';
import { restoreCommand } from './commands/restore.js';
import { setPauseCommand, setRemoveCommand, setRescanCommand, setResumeCommand } from './commands/set-actions.js';
import { setCreateCommand, setListCommand, setShowCommand, setUpdateCommand } from './commands/set.js';
import { replicationStatusCommand, siteInviteCommand, siteJoinCommand, siteListCommand } from './commands/site.js';
import { statusCommand } from './commands/status.js';
import { tokenCreateCommand } from './commands/token.js';

export interface Section {
  readonly title: string;
  readonly commands: readonly Command[];
}

/** Every verb of DESIGN §3, grouped as `haven --help` lists them. */
export const SECTIONS: readonly Section[] = [
  { title: 'Overview', commands: [statusCommand] },
  { title: 'Hosts', commands: [tokenCreateCommand, hostListCommand, hostShowCommand, hostRemoveCommand] },
  {
    title: 'Protection sets',
    commands: [setCreateCommand, setListCommand, setShowCommand, setUpdateCommand, setPauseCommand, setResumeCommand, setRescanCommand, setRemoveCommand],
  },
  { title: 'Points and files', commands: [pointListCommand, checkpointCommand, lsCommand, catCommand] },
  { title: 'Restore and maintenance', commands: [restoreCommand, verifyCommand, pruneCommand, gcCommand] },
  { title: 'Sites and replication', commands: [siteInviteCommand, siteJoinCommand, siteListCommand, replicationStatusCommand] },
  { title: 'Disaster recovery', commands: [drillCommand, failoverCommand, failbackCommand, migrateCommand] },
  { title: 'Jobs', commands: [jobListCommand, jobShowCommand, jobWatchCommand, jobCancelCommand] },
];

export const COMMANDS: readonly Command[] = SECTIONS.flatMap((s) => s.commands);

export type Resolution =
  | { readonly kind: 'none' }
  | { readonly kind: 'group'; readonly group: string; readonly commands: readonly Command[] }
  | { readonly kind: 'command'; readonly command: Command };

/**
 * Finds the verb named by the leading positionals: the command with the longest matching
 * path (`set create`), a bare group (`set`), or nothing; anything else is INVALID_ARGUMENT.
 */
export function resolveCommand(positionals: readonly string[], commands: readonly Command[] = COMMANDS): Resolution {
  if (positionals.length === 0) return { kind: 'none' };
  let best: Command | undefined;
  for (const cmd of commands) {
    const matches = cmd.path.every((part, i) => positionals[i] === part);
    if (matches && (best === undefined || cmd.path.length > best.path.length)) best = cmd;
  }
  if (best !== undefined) return { kind: 'command', command: best };
  const group = positionals[0]!;
  const members = commands.filter((c) => c.path.length > 1 && c.path[0] === group);
  if (members.length === 0) throw new HavenError('INVALID_ARGUMENT', `unknown command "${group}" (see haven --help)`);
  if (positionals.length === 1) return { kind: 'group', group, commands: members };
  const subs = members.map((c) => c.path[1]).join(', ');
  throw new HavenError('INVALID_ARGUMENT', `unknown command "${group} ${positionals[1]!}" (haven ${group} has: ${subs})`);
}

/**
 * Every flag of every verb, by name, with one type each. The first parsing pass uses it to
 * tell flag values from positionals wherever flags appear; a name with two types would make
 * that ambiguous, so it is refused here (and by a test).
 */
export function allOptionSpecs(commands: readonly Command[] = COMMANDS): Record<string, OptionSpec> {
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS };
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(all)) if ('short' in spec && spec.short !== undefined) shorts.set(spec.short, name);
  for (const cmd of commands) {
    for (const [name, spec] of Object.entries(cmd.options)) {
      const seen = all[name];
      if (seen !== undefined && seen.type !== spec.type) throw new Error(`flag --${name} is a ${seen.type} in one command and a ${spec.type} in another`);
      if (spec.short !== undefined && (shorts.get(spec.short) ?? name) !== name) throw new Error(`short flag -${spec.short} means two flags`);
      if (spec.short !== undefined) shorts.set(spec.short, name);
      all[name] ??= spec;
    }
  }
  return all;
}
