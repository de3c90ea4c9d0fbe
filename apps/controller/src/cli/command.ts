import type { OptionSpecs, ParsedOptions } from '@haven/runtime';
import type { CliContext } from './context.js';

/** Flags every command accepts, before or after the verb. */
export const GLOBAL_OPTIONS = {
  controller: { type: 'string', value: 'HOST:PORT', description: 'controller to talk to (default: see Connection below)' },
  data: { type: 'string', value: 'DIR', description: 'controller data directory: its CA and admin credential (local use)' },
  json: { type: 'boolean', description: 'print Admin API responses as canonical protobuf JSON' },
  help: { type: 'boolean', short: 'h', description: 'show help (also per command: haven set create --help)' },
} as const satisfies OptionSpecs;

export type GlobalValues = ParsedOptions<typeof GLOBAL_OPTIONS>;

export interface CommandArg {
  readonly name: string;
  readonly optional?: boolean;
}

/** One verb: its name path (`['set', 'create']`), help, positional arguments, flags and action. */
export interface CommandDef<O extends OptionSpecs> {
  readonly path: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis after the name path, e.g. `SET [--at POINT] [PATH]`. */
  readonly usage: string;
  /** More help paragraphs, shown by `--help` of the command. */
  readonly details?: string;
  readonly args: readonly CommandArg[];
  readonly options: O;
  /** Returns the exit code (0 when nothing is returned); errors become one line and a code. */
  run(ctx: CliContext, args: readonly string[], opts: ParsedOptions<O>): Promise<number | void>;
}

export type Command = CommandDef<OptionSpecs>;

/** Type-checks a command against its own options while letting the registry hold them all. */
export function defineCommand<O extends OptionSpecs>(def: CommandDef<O>): Command {
  return def as unknown as Command;
}

export function commandName(cmd: Command): string {
  return `haven ${cmd.path.join(' ')}`;
}
