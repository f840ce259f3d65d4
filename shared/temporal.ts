// Temporal names shared by the gateway (client side) and the workflow: ids, signals, queries, search attributes.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { CanonicalStatus, PostbackStatus } from './statuses';

export const LEAD_WORKFLOW_TYPE = 'leadWorkflow';

export function leadWorkflowId(leadId: string): string {
  return `lead-${leadId}`;
}

export interface LeadWorkflowInput {
  leadId: string;
  /** Started by a source's POST /ping: auction first, post only when the source sends the full lead. */
  ping?: boolean;
}

/**
 * How long the gateway waits for an inbound ping's answer: the auction's deadline, and room for the run's first
 * workflow task and the answer's way back. A run that starts too late for its auction to end within it pings no
 * one (decision 0020): the source has stopped waiting, and a buyer's bid would be reserved for nobody.
 */
/** The longest auction deadline a config may set (`routing.auction.timeoutMs`). */
export const MAX_AUCTION_TIMEOUT_MS = 30_000;

export function pingAnswerWaitMs(auctionTimeoutMs: number): number {
  return auctionTimeoutMs + 2000;
}

/** The auction's answer to an inbound ping: the bid reserved until `expiresAt`, or why there is none. */
export type PingAnswer = (
  { bidCents: number; currency: string; expiresAt: string } | { bidCents: null; reason: string }
) & {
  /**
   * How long the auction waited on its buyers (the slowest ping's latency): the rest of the answer's time is
   * leadrouter's own, which the gateway's admission of pings watches. Absent from runs recorded before it.
   */
  waitedMs?: number;
};

/** Update-with-start of a pinged lead's run: answers when its auction is decided. */
export const pingUpdate = defineUpdate<PingAnswer>('ping');
/**
 * What the gateway found screening the full lead (a ping carries no contact data, so its plan could not):
 * partners not to post it to, with the reason (`duplicate`: bought this person within its window; `suppressed`).
 */
export interface PostPinged {
  skip?: Record<string, string>;
}

/** The full lead is stored: post it to the reserved winner. Refused when the reservation has lapsed. */
export const postPingedUpdate = defineUpdate<void, [PostPinged]>('postPinged');

/** A partner's postback, already authenticated, deduplicated and mapped to a canonical status by the gateway. */
export interface PostbackSignal {
  postbackId: string;
  partnerId: string;
  status: PostbackStatus;
  rawStatus?: string;
  payoutCents?: number;
  currency?: string;
  txid?: string;
  receivedAt: string;
}

/** An operator's request to send a source notification again after its retries were exhausted. */
export interface ReplayNotificationSignal {
  status: CanonicalStatus;
  requestedAt: string;
}

export const postbackSignal = defineSignal<[PostbackSignal]>('postback');
export const replayNotificationSignal = defineSignal<[ReplayNotificationSignal]>('replayNotification');

/** A lead as both the workflow's view and the activities' snapshot of it start. */
export interface LeadHead {
  leadId: string;
  sourceId: string;
  status: CanonicalStatus;
  partnerId?: string;
  payoutCents?: number;
  currency?: string;
}

/** What the workflow knows of its lead right now (the `status` query). */
export interface LeadWorkflowView extends LeadHead {
  partnersTried: string[];
  deadline?: string;
  /** A ping-post auction's answers and the bid the lead was sold on (absent for waterfall-only leads). */
  auction?: {
    bids: { partnerId: string; outcome: string; bidCents?: number; currency?: string; reason?: string }[];
    winner?: { partnerId: string; bidCents: number; currency: string };
    /** Multisell: every buyer the lead was posted to and kept, best bid first. */
    winners?: { partnerId: string; bidCents: number; currency: string }[];
  };
  notifications: Record<string, 'sending' | 'delivered' | 'exhausted' | 'skipped'>;
}

export const statusQuery = defineQuery<LeadWorkflowView>('status');

/**
 * What ops search leads by in the Temporal UI. Every one must be registered on the namespace before a worker
 * upserts it (`leadrouter temporal setup`, the dev server's flags, the test servers' harnesses read this list).
 */
export const SEARCH_ATTRIBUTES = {
  leadStatus: defineSearchAttributeKey('LeadStatus', 'KEYWORD'),
  partnerId: defineSearchAttributeKey('PartnerId', 'KEYWORD'),
  sourceId: defineSearchAttributeKey('SourceId', 'KEYWORD'),
  // The bid an auctioned lead was sold on, in minor units of its currency: `WinningBidCents > 1000` is only
  // meaningful with `WinningBidCurrency="USD"` beside it (amounts of different currencies are never compared).
  winningBidCents: defineSearchAttributeKey('WinningBidCents', 'INT'),
  winningBidCurrency: defineSearchAttributeKey('WinningBidCurrency', 'KEYWORD'),
} as const;

/**
 * What a lead's workflow is started with besides its id and input: the search attributes and memo the Temporal UI
 * and `leadrouter find` read from its first event (the gateway's start and update-with-start, tests, bench).
 */
export function leadStartAttributes(sourceId: string) {
  return {
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.leadStatus, value: 'received' },
      { key: SEARCH_ATTRIBUTES.sourceId, value: sourceId },
    ],
    // As the workflow's own upserts write it (publish() in workflows/lead.ts), at `received`.
    memo: { sourceId, status: 'received', partnerId: null, payoutCents: null, currency: null },
  };
}
