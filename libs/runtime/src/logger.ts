export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function serialize(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * JSON-lines logger on a writable (stderr by default): one object per line so logs are
 * greppable by humans and parseable by collectors. Level from HAVEN_LOG_LEVEL.
 */
export function createLogger(
  options: { name: string; level?: LogLevel; write?: (line: string) => void; fields?: Record<string, unknown> },
): Logger {
  const envLevel = process.env['HAVEN_LOG_LEVEL'] as LogLevel | undefined;
  const min = ORDER[options.level ?? (envLevel !== undefined && envLevel in ORDER ? envLevel : 'info')];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = { name: options.name, ...(options.fields ?? {}) };
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, ...base, msg };
    for (const [k, v] of Object.entries(fields ?? {})) record[k] = serialize(v);
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) =>
      createLogger({ ...options, level: (Object.keys(ORDER) as LogLevel[]).find((l) => ORDER[l] === min) ?? 'info', fields: { ...base, ...fields } }),
  };
}
