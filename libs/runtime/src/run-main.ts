import { errorCodeOf, findHavenError } from '@haven/core';
import type { ErrorCode } from '@haven/core';

/** Process exit codes: scripts branch on these as well as on the printed code. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 3,
  UNAVAILABLE: 4,
  PERMISSION_DENIED: 5,
  UNAUTHENTICATED: 5,
  FENCED: 6,
  CORRUPT: 7,
  FAILED_PRECONDITION: 8,
};

export function exitCodeOf(code: ErrorCode): number {
  return EXIT_CODES[code] ?? 1;
}

/** One line for any error: `prog: CODE: message`. Stack traces only with HAVEN_DEBUG=1. */
export function formatError(prog: string, err: unknown): string {
  const haven = findHavenError(err);
  const message = haven?.message ?? (err instanceof Error ? err.message : String(err));
  return `${prog}: ${errorCodeOf(err)}: ${message.split('\n')[0] ?? ''}`;
}

/**
 * Runs a command's main function: prints one clear line and exits non-zero on error.
 * A main that resolves keeps the process alive only as long as its handles do.
 */
export function runMain(prog: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${formatError(prog, err)}\n`);
      if (process.env['HAVEN_DEBUG'] === '1' && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
      process.exitCode = exitCodeOf(errorCodeOf(err));
    },
  );
}
