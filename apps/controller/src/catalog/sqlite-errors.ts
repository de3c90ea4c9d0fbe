import { HavenError } from '@haven/core';

/**
 * A SQLite failure as a HavenError with a stable code. Input is validated before any
 * statement runs, so what reaches here is the environment (a locked or full disk, a damaged
 * file) or a bug; the original error stays attached as the cause.
 */
export function fromSqliteError(err: unknown, what: string): HavenError {
  if (err instanceof HavenError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  const reason = err instanceof Error ? err.message : String(err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new HavenError('UNAVAILABLE', `${what}: catalog is locked by another connection`, { cause: err });
  }
  if (code === 'SQLITE_FULL') return new HavenError('RESOURCE_EXHAUSTED', `${what}: disk full`, { cause: err });
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new HavenError('CORRUPT', `${what}: catalog file is damaged: ${reason}`, { cause: err });
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY')) {
    return new HavenError('UNAVAILABLE', `${what}: catalog I/O failed: ${reason}`, { cause: err });
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new HavenError('ALREADY_EXISTS', `${what}: ${reason}`, { cause: err });
  }
  return new HavenError('INTERNAL', `${what}: ${reason}`, { cause: err });
}

/**
 * Wraps every method of `impl` so that whatever it throws is a HavenError. Methods returning
 * iterables validate eagerly and translate errors of later pages themselves.
 */
export function withHavenErrors<T extends object>(impl: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(impl)) {
    if (typeof value !== 'function') {
      out[name] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    out[name] = (...args: unknown[]): unknown => {
      try {
        return fn(...args);
      } catch (err) {
        throw fromSqliteError(err, name);
      }
    };
  }
  return out as T;
}
