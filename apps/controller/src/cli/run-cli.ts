import { parseArgs } from 'node:util';
import { HavenError } from '@haven/core';
import type { Clock } from '@haven/core';
import { parseCommandLine } from '@haven/runtime';
import type { OptionSpecs } from '@haven/runtime';
import type { CliIo } from './cli-io.js';
import { GLOBAL_OPTIONS, commandName } from './command.js';
import type { Command } from './command.js';
import { createCliContext } from './context.js';
import { commandHelp, globalHelp, groupHelp } from './help.js';
import { write } from './output.js';
import { COMMANDS, allOptionSpecs, resolveCommand } from './registry.js';

interface Scan {
  positionals: string[];
  /** Flags as written (`--host`, `-r`) with the name they resolve to. */
  flags: Array<{ name: string; raw: string }>;
}

/**
 * First pass: which words are positionals, knowing every verb's flags (so `--host web1`
 * before or after the verb is never mistaken for a verb or argument). Nothing is validated
 * here; the second pass parses strictly against the resolved verb's own flags.
 */
export function scanCommandLine(argv: readonly string[], commands: readonly Command[] = COMMANDS): Scan {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(allOptionSpecs(commands))) {
    options[name] = { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }) };
  }
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const scan: Scan = { positionals: [], flags: [] };
  for (const t of tokens) {
    if (t.kind === 'positional') scan.positionals.push(t.value);
    else if (t.kind === 'option') scan.flags.push({ name: t.name, raw: t.rawName });
  }
  return scan;
}

function checkFlags(scan: Scan, allowed: OptionSpecs, who: string): void {
  for (const f of scan.flags) {
    if (!Object.hasOwn(allowed, f.name)) {
      throw new HavenError('INVALID_ARGUMENT', `unknown option ${f.raw} for "${who}" (see ${who} --help)`);
    }
  }
}

function checkArgs(cmd: Command, args: readonly string[]): void {
  const required = cmd.args.filter((a) => a.optional !== true).length;
  if (args.length < required) {
    throw new HavenError('INVALID_ARGUMENT', `missing ${cmd.args[args.length]!.name} (usage: ${commandName(cmd)} ${cmd.usage})`);
  }
  if (args.length > cmd.args.length) {
    throw new HavenError('INVALID_ARGUMENT', `unexpected argument "${args[cmd.args.length]!}" for "${commandName(cmd)}"`);
  }
}

/**
 * Runs one `haven` command line: resolves the verb, validates flags and arguments against
 * it (before any connection is made), and runs it. Returns the exit code; errors are thrown
 * for the caller to print as one line.
 */
export async function runCli(argv: readonly string[], io: CliIo, clock?: Clock): Promise<number> {
  const scan = scanCommandLine(argv);
  let positionals = scan.positionals;
  let help = scan.flags.some((f) => f.name === 'help');
  if (positionals[0] === 'help') {
    help = true;
    positionals = positionals.slice(1);
  }
  const resolved = resolveCommand(positionals);
  if (resolved.kind === 'none') {
    checkFlags(scan, GLOBAL_OPTIONS, 'haven');
    await write(io.stdout, globalHelp());
    return help ? 0 : 2;
  }
  if (resolved.kind === 'group') {
    if (help) {
      await write(io.stdout, groupHelp(resolved.group, resolved.commands));
      return 0;
    }
    const subs = resolved.commands.map((c) => c.path[1]).join(', ');
    throw new HavenError('INVALID_ARGUMENT', `"haven ${resolved.group}" needs a command: ${subs} (see haven ${resolved.group} --help)`);
  }
  const cmd = resolved.command;
  if (help) {
    await write(io.stdout, commandHelp(cmd));
    return 0;
  }
  const specs = { ...GLOBAL_OPTIONS, ...cmd.options };
  checkFlags(scan, specs, commandName(cmd));
  const { values, positionals: words } = parseCommandLine(argv, specs);
  const args = words.slice(cmd.path.length);
  checkArgs(cmd, args);
  const ctx = createCliContext(values, io, clock);
  try {
    return (await cmd.run(ctx, args, values)) ?? 0;
  } finally {
    ctx.close();
  }
}
