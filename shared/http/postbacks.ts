// Partner postbacks: the parameters we read, the answer, and a stored postback as operators see it.
import { z } from 'zod';
import { postbackStatusSchema, timeWindowFields } from './common';

/** One postback parameter value: a single short string (arrays and objects are operator injection shapes). */
const param = (max: number) => z.string().max(max);

/** A postback's parameters after the partner's aliases are resolved to our names. */
export const postbackParamsSchema = z.object({
  subid: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the leadId we sent: 1-64 letters, digits, "_" or "-"'),
  status: param(64).optional(),
  /** Negative only on a return (the sale reversed, as many platforms send it): checked once the status is mapped. */
  payout: z
    .string()
    .regex(/^-?\d{1,12}(\.\d{1,6})?$/, 'must be a decimal amount')
    .optional(),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter ISO 4217 code')
    .optional(),
  txid: param(128).optional(),
  token: param(256).optional(),
  ts: z
    .string()
    .regex(/^\d{1,13}$/, 'must be unix seconds (or milliseconds)')
    .optional(),
  /** The partner's integration test: checked and answered as usual, logged, never applied. */
  test: z.enum(['0', '1', 'true', 'false'], 'must be 1 or 0').optional(),
});
export type PostbackParams = z.infer<typeof postbackParamsSchema>;

export const postbackResultSchema = z.object({
  ok: z.literal(true),
  leadId: z.string(),
  status: postbackStatusSchema,
  duplicate: z.boolean(),
  queued: z.boolean().optional(),
});

/** The answer to a postback with `test=1`: what would happen, with nothing changed. */
export const postbackTestResultSchema = z.object({
  ok: z.literal(true),
  test: z.literal(true),
  leadId: z.string(),
  status: postbackStatusSchema,
  wouldApply: z.boolean(),
  reason: z.string(),
});

/** A postback as it was logged (secrets already redacted when it was stored). */
export const postbackReceivedSchema = z.object({
  receivedAt: z.string(),
  method: z.string().optional(),
  path: z.string().optional(),
  query: z.record(z.string(), z.unknown()).optional(),
  body: z.record(z.string(), z.unknown()).optional(),
  ip: z.string().optional(),
  requestId: z.string().optional(),
  partnerId: z.string().optional(),
  rawStatus: z.string().optional(),
  status: z.string().optional(),
  txid: z.string().optional(),
  payout: z.string().optional(),
  currency: z.string().optional(),
  outcome: z.string(),
  httpStatus: z.number().optional(),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  latencyMs: z.number().optional(),
});
export type PostbackReceived = z.infer<typeof postbackReceivedSchema>;

/** Stored outcomes; `refused` is accepted in queries as another name for `rejected`. */
export const POSTBACK_OUTCOMES = ['applied', 'duplicate', 'queued', 'rejected', 'test'] as const;

export const postbackLogQuerySchema = z
  .object({
    partnerId: z.string().max(64).optional(),
    outcome: z
      .enum([...POSTBACK_OUTCOMES, 'refused'])
      .transform((o) => (o === 'refused' ? 'rejected' : o))
      .optional(),
    /** A refusal's error code, e.g. `bad_credentials`, `unknown_lead`, `unmapped_status`. */
    code: z.string().max(64).optional(),
    ...timeWindowFields,
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type PostbackLogQuery = z.infer<typeof postbackLogQuerySchema>;

export const postbackLogEntrySchema = postbackReceivedSchema.extend({
  id: z.string(),
  leadId: z.string().optional(),
  /** Test postbacks: whether it would have been applied, and why (or why not). */
  wouldApply: z.boolean().optional(),
  reason: z.string().optional(),
});
export type PostbackLogEntry = z.infer<typeof postbackLogEntrySchema>;

export const postbackLogPageSchema = z.object({
  postbacks: z.array(postbackLogEntrySchema),
  /** Pass back as `cursor` for the next (older) page; absent on the last page. */
  nextCursor: z.string().optional(),
});
export type PostbackLogPage = z.infer<typeof postbackLogPageSchema>;

export const refusalSummaryQuerySchema = z
  .object({
    partnerId: z.string().max(64).optional(),
    ...timeWindowFields,
  })
  .strict();

export const refusalSummarySchema = z.object({
  from: z.string(),
  to: z.string(),
  /** Refused postbacks per partner (`(unknown)` when none could be told) and error code, most first. */
  rows: z.array(z.object({ partnerId: z.string(), code: z.string(), count: z.number() })),
});
export type RefusalSummary = z.infer<typeof refusalSummarySchema>;
