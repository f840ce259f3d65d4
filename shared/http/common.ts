// Building blocks every part of the HTTP contract shares: statuses, ids, amounts, dates and the error body.
import { z } from 'zod';
import { CANONICAL_STATUSES, POSTBACK_STATUSES } from '../statuses';

export const canonicalStatusSchema = z.enum(CANONICAL_STATUSES);
export const postbackStatusSchema = z.enum(POSTBACK_STATUSES);

/** Ids we hand out and accept as idempotency keys: no spaces, no operators, nothing to inject. */
export const leadIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{6,64}$/, 'must be 6-64 letters, digits, "_" or "-"');

/** An amount as a decimal string with two places ("12.50"), never a float. */
export const moneySchema = z.string().regex(/^-?\d+\.\d{2}$/);

/** A query-string time: an ISO date-time with its offset, or a date. */
export const isoDateSchema = z.iso.datetime({ offset: true }).or(z.iso.date());

/** The `from`/`to` of a query over a time window: [from, to), either side optional. */
export const timeWindowFields = { from: isoDateSchema.optional(), to: isoDateSchema.optional() };

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
