// The admin API's shapes: lead search, a lead's journey, notification replay.
import { z } from 'zod';
import { canonicalStatusSchema, leadIdSchema, timeWindowFields } from './common';
import { leadSummarySchema, leadViewSchema } from './leads';
import { postbackReceivedSchema } from './postbacks';

export const leadListQuerySchema = z
  .object({
    status: canonicalStatusSchema.optional(),
    partnerId: z.string().max(64).optional(),
    sourceId: z.string().max(64).optional(),
    ...timeWindowFields,
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const leadListSchema = z.object({
  leads: z.array(leadSummarySchema),
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor: z.string().optional(),
});
export type LeadList = z.infer<typeof leadListSchema>;

export const timelineEntrySchema = z.object({
  at: z.string(),
  kind: z.enum(['status', 'bid', 'delivery', 'postback', 'notification']),
  /** One line a person reads: what happened, to whom, with what result. */
  summary: z.string(),
  partnerId: z.string().optional(),
  status: z.string().optional(),
  httpStatus: z.number().optional(),
  latencyMs: z.number().optional(),
  ok: z.boolean().optional(),
});
export type TimelineEntry = z.infer<typeof timelineEntrySchema>;

export const journeySchema = z.object({
  lead: leadViewSchema,
  postbacks: z.array(postbackReceivedSchema),
  timeline: z.array(timelineEntrySchema),
});
export type Journey = z.infer<typeof journeySchema>;

export const replaySingleSchema = z.object({ leadId: leadIdSchema, status: canonicalStatusSchema }).strict();
export const replayFilterSchema = z
  .object({
    sourceId: z.string().max(64).optional(),
    status: canonicalStatusSchema.optional(),
    ...timeWindowFields,
    /** List what would be replayed without sending anything. */
    dryRun: z.boolean().default(false),
    limit: z.number().int().min(1).max(1000).default(500),
  })
  .strict();
export const replayRequestSchema = z.union([replaySingleSchema, replayFilterSchema]);

export const replayTargetSchema = z.object({ leadId: z.string(), status: canonicalStatusSchema });
export type ReplayTarget = z.infer<typeof replayTargetSchema>;
export const replayResultSchema = z.object({
  dryRun: z.boolean(),
  matched: z.number(),
  targets: z.array(replayTargetSchema),
  replayed: z.number(),
  failed: z.array(replayTargetSchema.extend({ error: z.string() })),
});
export type ReplayResult = z.infer<typeof replayResultSchema>;
