// HTTP shapes as zod schemas: the single source of truth for validation, TypeScript types and the OpenAPI document.
import { z } from 'zod';
import { CANONICAL_STATUSES, POSTBACK_STATUSES } from './statuses';

export const canonicalStatusSchema = z.enum(CANONICAL_STATUSES);
export const postbackStatusSchema = z.enum(POSTBACK_STATUSES);

/** Ids we hand out and accept as idempotency keys: no spaces, no operators, nothing to inject. */
export const leadIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{6,64}$/, 'must be 6-64 letters, digits, "_" or "-"');

const shortText = z.string().max(256);
const jsonScalar = z.union([z.string().max(2048), z.number(), z.boolean(), z.null()]);
// MongoDB-wire servers refuse "." anywhere in a field name (FerretDB) and treat a leading "$" as an operator.
const flatRecord = z.record(
  z
    .string()
    .max(64)
    .regex(/^[^$.][^.]*$/, 'keys may not start with "$" or contain "."'),
  jsonScalar,
);

export const leadInputSchema = z
  .object({
    leadId: leadIdSchema.optional(),
    clickId: shortText.optional(),
    vertical: z.string().max(64).optional(),
    geo: z
      .object({
        country: z
          .string()
          .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 code')
          .transform((c) => c.toUpperCase())
          .optional(),
        state: z.string().max(64).optional(),
        zip: z.string().max(16).optional(),
      })
      .strict()
      .optional(),
    contact: flatRecord.optional(),
    data: flatRecord.optional(),
    sub1: shortText.optional(),
    sub2: shortText.optional(),
    sub3: shortText.optional(),
    sub4: shortText.optional(),
    sub5: shortText.optional(),
  })
  .strict();
export type LeadInput = z.infer<typeof leadInputSchema>;

export const leadAcceptedSchema = z.object({
  leadId: z.string(),
  workflowId: z.string(),
  status: canonicalStatusSchema,
});

const money = z.string().regex(/^-?\d+\.\d{2}$/);

export const historyEntrySchema = z.object({
  status: canonicalStatusSchema,
  at: z.string(),
  reason: z.string(),
  partnerId: z.string().optional(),
  rawStatus: z.string().optional(),
});

export const deliveryViewSchema = z.object({
  partnerId: z.string(),
  attempt: z.number(),
  at: z.string(),
  outcome: z.enum(['accepted', 'rejected', 'pending', 'error', 'skipped']),
  httpStatus: z.number().optional(),
  latencyMs: z.number().optional(),
  reason: z.string().optional(),
});

export const notificationViewSchema = z.object({
  status: canonicalStatusSchema,
  eventId: z.string(),
  attempt: z.number(),
  at: z.string(),
  ok: z.boolean(),
  httpStatus: z.number().optional(),
  latencyMs: z.number().optional(),
  error: z.string().optional(),
  exhausted: z.boolean().optional(),
});

export const leadViewSchema = z.object({
  leadId: z.string(),
  workflowId: z.string(),
  clickId: z.string().optional(),
  sourceId: z.string(),
  partnerId: z.string().optional(),
  status: canonicalStatusSchema,
  payout: money.optional(),
  currency: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  history: z.array(historyEntrySchema),
  deliveries: z.array(deliveryViewSchema),
  notifications: z.array(notificationViewSchema),
});
export type LeadView = z.infer<typeof leadViewSchema>;

/** One postback parameter value: a single short string (arrays and objects are operator injection shapes). */
const param = (max: number) => z.string().max(max);

/** A postback's parameters after the partner's aliases are resolved to our names. */
export const postbackParamsSchema = z.object({
  subid: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the leadId we sent: 1-64 letters, digits, "_" or "-"'),
  status: param(64).optional(),
  payout: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,6})?$/, 'must be a non-negative decimal amount')
    .optional(),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter ISO 4217 code')
    .optional(),
  txid: param(128).optional(),
  token: param(256).optional(),
  ts: z
    .string()
    .regex(/^\d{1,12}$/, 'must be unix seconds')
    .optional(),
});
export type PostbackParams = z.infer<typeof postbackParamsSchema>;

export const postbackResultSchema = z.object({
  ok: z.literal(true),
  leadId: z.string(),
  status: postbackStatusSchema,
  duplicate: z.boolean(),
  queued: z.boolean().optional(),
});

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

const isoDate = z.iso.datetime({ offset: true }).or(z.iso.date());

export const reportQuerySchema = z
  .object({
    from: isoDate.optional(),
    to: isoDate.optional(),
    groupBy: z.enum(['source', 'partner']).default('source'),
  })
  .strict();

export const reportRowSchema = z.object({
  group: z.string(),
  counts: z.record(canonicalStatusSchema, z.number()),
  acceptanceRate: z.number(),
  revenue: money,
  currency: z.string(),
});

export const reportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['source', 'partner']),
  rows: z.array(reportRowSchema),
});

export const leadListQuerySchema = z
  .object({
    status: canonicalStatusSchema.optional(),
    partnerId: z.string().max(64).optional(),
    sourceId: z.string().max(64).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
