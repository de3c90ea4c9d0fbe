/**
 * Stable error codes. They cross the wire (gRPC status + this string in the details),
 * appear in CLI output and are what callers branch on; never branch on message text.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'FAILED_PRECONDITION',
  'FENCED',
  'CORRUPT',
  'UNAVAILABLE',
  'RESOURCE_EXHAUSTED',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'ABORTED',
  'UNIMPLEMENTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The one error type of Haven: a stable code, a one-line message, optional details. */
export class HavenError extends Error {
  override readonly name = 'HavenError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** Walks the `cause` chain and returns the first HavenError, if any. */
export function findHavenError(err: unknown): HavenError | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && !seen.has(cur)) {
    if (cur instanceof HavenError) return cur;
    seen.add(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return undefined;
}

/** The stable code of any thrown value: its HavenError's code, or INTERNAL. */
export function errorCodeOf(err: unknown): ErrorCode {
  return findHavenError(err)?.code ?? 'INTERNAL';
}

export const invalidArgument = (message: string, details?: Record<string, string>): HavenError =>
  new HavenError('INVALID_ARGUMENT', message, details ? { details } : {});
export const notFound = (message: string, details?: Record<string, string>): HavenError =>
  new HavenError('NOT_FOUND', message, details ? { details } : {});
export const corrupt = (message: string, details?: Record<string, string>): HavenError =>
  new HavenError('CORRUPT', message, details ? { details } : {});
