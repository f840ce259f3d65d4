// Reports: the summary of status counts and revenue per source or partner over a window.
import { z } from 'zod';
import { canonicalStatusSchema, isoDateSchema, moneySchema } from './common';

export const reportQuerySchema = z
  .object({
    from: isoDateSchema.optional(),
    to: isoDateSchema.optional(),
    groupBy: z.enum(['source', 'partner']).default('source'),
  })
  .strict();
export type ReportQuery = z.infer<typeof reportQuerySchema>;

export const reportRowSchema = z.object({
  group: z.string(),
  counts: z.record(canonicalStatusSchema, z.number()),
  acceptanceRate: z.number(),
  /** Accepted minus returned, per ISO 4217 currency: amounts of different currencies are never added. */
  revenueByCurrency: z.record(z.string(), moneySchema),
  /** Only when the row has exactly one currency: that currency's revenue. */
  revenue: moneySchema.optional(),
  currency: z.string().optional(),
});

export const reportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['source', 'partner']),
  rows: z.array(reportRowSchema),
});
export type Report = z.infer<typeof reportSchema>;

export const performanceQuerySchema = z
  .object({
    from: isoDateSchema.optional(),
    to: isoDateSchema.optional(),
  })
  .strict();
export type PerformanceQuery = z.infer<typeof performanceQuerySchema>;

export const performanceRowSchema = z.object({
  /** The partner's or source's id; `(none)` for events without one. */
  group: z.string(),
  /** Leads handed over and left waiting for a postback (`pending` statuses). */
  delivered: z.number(),
  accepted: z.number(),
  rejected: z.number(),
  expired: z.number(),
  returned: z.number(),
  failed: z.number(),
  /**
   * Leads received flagged as duplicates (settings.duplicates action `flag`), counted at intake: per source;
   * on partner rows they fall under `(none)`. Leads received before this count existed are not in it.
   */
  duplicates: z.number(),
  /**
   * Deciding postbacks (a partner's first accepted or rejected on a lead it was delivered) whose time from
   * delivery is counted; p50 and p95 of that time in ms, interpolated from fixed latency buckets (null: none).
   */
  decisions: z.number(),
  decisionP50Ms: z.number().nullable(),
  decisionP95Ms: z.number().nullable(),
  /**
   * Partner rows only: postbacks refused in the window per error code (e.g. `bad_credentials`,
   * `unknown_lead`), from the postback log, so only as far back as refused lines are kept.
   */
  refusedByCode: z.record(z.string(), z.number()).optional(),
  /** Source rows only: notifications to the source whose retries ran out in the window (replayable). */
  notificationsExhausted: z.number().optional(),
  /** accepted / (accepted + rejected + expired), 4 decimals. */
  acceptanceRate: z.number(),
  /** returned / accepted, 4 decimals. */
  returnRate: z.number(),
  revenueByCurrency: z.record(z.string(), moneySchema),
  /** Earnings per decided lead (accepted + rejected + expired), per currency. */
  eplByCurrency: z.record(z.string(), moneySchema),
});

export const performanceReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['source', 'partner']),
  rows: z.array(performanceRowSchema),
});
export type PerformanceReport = z.infer<typeof performanceReportSchema>;
