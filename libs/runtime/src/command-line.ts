import { parseArgs } from 'node:util';
import { HavenError } from '@haven/core';

export type OptionSpec =
  | { type: 'string'; short?: string; multiple?: false; description: string; value?: string }
  | { type: 'string'; short?: string; multiple: true; description: string; value?: string }
  | { type: 'boolean'; short?: string; description: string };

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'boolean' }
  ? boolean | undefined
  : S extends { multiple: true }
    ? string[] | undefined
    : string | undefined;

export type ParsedOptions<S extends OptionSpecs> = { [K in keyof S]: ValueOf<S[K]> };

export interface ParsedCommandLine<S extends OptionSpecs> {
  values: ParsedOptions<S>;
  positionals: string[];
}

/**
 * Parses flags anywhere on the line (before or after the verb, as `git -C` and
 * `kubectl --context` allow) and turns every parse failure into one INVALID_ARGUMENT line.
 */
export function parseCommandLine<S extends OptionSpecs>(argv: readonly string[], specs: S): ParsedCommandLine<S> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...('multiple' in spec && spec.multiple === true ? { multiple: true } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values: values as ParsedOptions<S>, positionals };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
    throw new HavenError('INVALID_ARGUMENT', msg.replace(/\. To specify a positional argument.*$/, ''), { cause: err });
  }
}

/** Renders an aligned option list for `--help`. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : '';
    const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${value}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join('\n');
}

/** Parses durations such as `90s`, `15m`, `1h`, `7d`; INVALID_ARGUMENT otherwise. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (m === null) throw new HavenError('INVALID_ARGUMENT', `not a duration: "${text}" (use e.g. 30s, 15m, 1h, 7d)`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

/** HOST:PORT with a numeric port; INVALID_ARGUMENT otherwise. IPv6 hosts go in brackets. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new HavenError('INVALID_ARGUMENT', `not HOST:PORT: "${text}"`);
  }
  return { host: m[1] as string, port };
}
