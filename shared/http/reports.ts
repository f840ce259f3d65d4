// Reports: the summary of status counts and revenue per source or partner over a window.
import { z } from 'zod';
import { canonicalStatusSchema, moneySchema, timeWindowFields } from './common';

export const reportQuerySchema = z
  .object({
    ...timeWindowFields,
    groupBy: z.enum(['source', 'partner']).default('source'),
  })
  .strict();
export type ReportQuery = z.infer<typeof reportQuerySchema>;

/** A partner's ping-post auctions in a window (rows of partners pinged at least once). */
export const auctionFiguresSchema = z.object({
  /** Pings sent: every answer counts, a bid, a refusal, a timeout or an error. */
  pings: z.number(),
  /** Pings answered with a bid. */
  bids: z.number(),
  /** Posts on a winning bid (the highest, or the next one after a refused post). */
  wins: z.number(),
  /** wins / bids, 4 decimals. */
  winRate: z.number(),
  /** Sum of the bids per currency (never added across currencies). */
  bidTotalByCurrency: z.record(z.string(), moneySchema),
  /** Average bid per currency: that currency's total over its bids, to the cent. */
  bidAverageByCurrency: z.record(z.string(), moneySchema),
  /** Posts on a winning bid the partner refused (the lead went to the next bid). */
  postsRefused: z.number(),
});
export type AuctionFigures = z.infer<typeof auctionFiguresSchema>;

export const reportRowSchema = z.object({
  group: z.string(),
  counts: z.record(canonicalStatusSchema, z.number()),
  acceptanceRate: z.number(),
  /** Accepted minus returned, per ISO 4217 currency: amounts of different currencies are never added. */
  revenueByCurrency: z.record(z.string(), moneySchema),
  /** Only when the row has exactly one currency: that currency's revenue. */
  revenue: moneySchema.optional(),
  currency: z.string().optional(),
  /** With groupBy=partner, for a partner pinged in the window: its auctions. */
  auction: auctionFiguresSchema.optional(),
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
    ...timeWindowFields,
  })
  .strict();
export type PerformanceQuery = z.infer<typeof performanceQuerySchema>;

export const performanceRowSchema = z.object({
  /** The partner's or source's id; `(none)` for events without one. */
  group: z.string(),
  /**
   * Leads offered: on a partner row, leads sent to it (a first delivery attempt, whatever its answer, a post on a
   * winning bid included); on a source row, the offers of its leads (one lead offered to three partners is 3).
   */
  offered: z.number(),
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
  /**
   * Earnings per lead, per currency: on a partner row revenue over leads offered, on a source row over leads
   * received; empty when there were none.
   */
  eplByCurrency: z.record(z.string(), moneySchema),
  /** Partner rows of partners pinged in the window: their auctions. */
  auction: auctionFiguresSchema.optional(),
});

export const performanceReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['source', 'partner']),
  rows: z.array(performanceRowSchema),
});
export type PerformanceReport = z.infer<typeof performanceReportSchema>;
