// Lead intake and the lead view: what sources send, what they and operators read back.
import { z } from 'zod';
import { canonicalStatusSchema, leadIdSchema, moneySchema } from './common';

const shortText = z.string().max(256);
const jsonScalar = z.union([z.string().max(2048), z.number(), z.boolean(), z.null()]);
// MongoDB-wire servers refuse "." anywhere in a field name (FerretDB) and treat a leading "$" as an operator;
// BSON cannot hold NUL in a name at all. Without "." a flattened name (contact.subid) is never a source's own.
const flatRecord = z.record(
  z
    .string()
    .max(64)
    .regex(/^[^$.\0][^.\0]*$/, 'keys may not start with "$" or contain "." or NUL'),
  jsonScalar,
);

export const leadInputSchema = z
  .object({
    leadId: leadIdSchema.optional(),
    /** From POST /ping: post this lead to the bid reserved then, without a second auction. */
    pingId: leadIdSchema.optional(),
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

/** A lead without its logs: a row of the admin lead list, and the head of the lead view. */
export const leadSummarySchema = z.object({
  leadId: z.string(),
  workflowId: z.string(),
  clickId: z.string().optional(),
  sourceId: z.string(),
  partnerId: z.string().optional(),
  status: canonicalStatusSchema,
  payout: moneySchema.optional(),
  /** ISO 4217 code of `payout`: present whenever `payout` is. */
  currency: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type LeadSummary = z.infer<typeof leadSummarySchema>;

export const leadViewSchema = leadSummarySchema.extend({
  history: z.array(historyEntrySchema),
  deliveries: z.array(deliveryViewSchema),
  notifications: z.array(notificationViewSchema),
});
export type LeadView = z.infer<typeof leadViewSchema>;
