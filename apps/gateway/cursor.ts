// Keyset cursors for newest-first lists: the last row's (time, id), stable under inserts, unlike an offset; and
// the time window those lists are filtered by.
import { AppError } from '../../shared/errors';

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [t, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const at = new Date(String(t));
    if (typeof t === 'string' && typeof id === 'string' && !Number.isNaN(at.getTime())) return { at, id };
  } catch {
    // fall through to the error below
  }
  throw invalidCursor();
}

/** The condition "after the cursor" in newest-first (`field`, _id) order. */
export function afterCursor(field: string, at: Date, id: unknown): { $or: Record<string, unknown>[] } {
  return { $or: [{ [field]: { $lt: at } }, { [field]: at, _id: { $lt: id } }] };
}

/** A page of `limit` rows out of the `limit + 1` read, and the cursor of its last row when more follow. */
export function pageOf<T>(
  rows: T[],
  limit: number,
  key: (row: T) => [Date, string],
): { page: T[]; nextCursor?: string } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(...key(last)) : undefined };
}

export const invalidCursor = () =>
  new AppError('invalid_request', 'invalid cursor', [
    { path: 'cursor', message: 'pass back the nextCursor of a previous page' },
  ]);

/** The MongoDB condition "in [from, to)" of a query's optional ISO `from`/`to`; undefined when neither is given. */
export function timeWindow(
  from: string | undefined,
  to: string | undefined,
): Record<string, Date> | undefined {
  if (!from && !to) return undefined;
  const range: Record<string, Date> = {};
  if (from) range.$gte = new Date(from);
  if (to) range.$lt = new Date(to);
  return range;
}
