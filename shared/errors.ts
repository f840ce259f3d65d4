// Errors as values with codes; one gateway middleware maps them to HTTP responses.
export const ERROR_STATUS = {
  invalid_request: 400,
  unsupported_media_type: 415,
  missing_credentials: 401,
  bad_credentials: 401,
  forbidden: 403,
  bad_signature: 403,
  replayed_signature: 403,
  ip_not_allowed: 403,
  unknown_lead: 404,
  unknown_partner: 404,
  not_found: 404,
  conflict: 409,
  duplicate_lead: 409,
  payload_too_large: 413,
  query_too_large: 414,
  unmapped_status: 422,
  rate_limited: 429,
  dependency_unavailable: 503,
  overloaded: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  /** Seconds the client should wait before trying again (`Retry-After`), for rate limits. */
  retryAfterSeconds?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues: ErrorIssue[] = [],
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/**
 * The database going away or being too busy (a MongoDB network or selection error, or FerretDB's SQLite
 * answering "database is locked") is a 503 the caller should retry, not a bug of ours (500).
 */
export function isDependencyOutage(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown } | null;
  if (typeof e?.name !== 'string') return false;
  if (/^Mongo(ose)?(Network|ServerSelection|NotConnected|NetworkTimeout)Error$/.test(e.name)) return true;
  return (
    e.name === 'MongoServerError' &&
    typeof e.message === 'string' &&
    /database is locked|SQLITE_BUSY/i.test(e.message)
  );
}

/** A 503 for work turned away because the service is behind (a ping it could not answer in time). */
export function overloaded(message: string, retryAfterSeconds = 1): AppError {
  const err = new AppError('overloaded', message);
  err.retryAfterSeconds = retryAfterSeconds;
  return err;
}

/** A 429 with the seconds until the client may try again. */
export function rateLimited(message: string, retryAfterMs: number): AppError {
  const err = new AppError('rate_limited', message);
  err.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return err;
}
