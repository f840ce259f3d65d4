// zod parsing for request input, with failures as `invalid_request` errors that name each bad path.
import type { z } from 'zod';
import { formatPath } from '../../shared/config';
import { AppError, type ErrorIssue } from '../../shared/errors';

export function zodIssues(error: z.ZodError): ErrorIssue[] {
  return error.issues.slice(0, 20).map((i) => ({ path: formatPath(i.path) || '(root)', message: i.message }));
}

export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = 'request'): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new AppError('invalid_request', `invalid ${what}`, zodIssues(result.error));
  return result.data;
}
