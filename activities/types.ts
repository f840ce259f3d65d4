// The activity contract: inputs and results shared by the activities and the workflow that schedules them.
import type { CanonicalStatus } from '../shared/statuses';
import type { LeadHead } from '../shared/temporal';

export interface NotifyPolicy {
  initialIntervalMs: number;
  maxIntervalMs: number;
  maxDurationMs: number;
}

export interface LeadSnapshot extends LeadHead {
  expiresAt?: string;
  /** The last recorded history sequence number; the workflow continues from it. */
  seq: number;
  /** Statuses the source wants to hear about, and how hard to try. */
  notifyOn: CanonicalStatus[];
  notifyPolicy: NotifyPolicy;
  /** The current partner's default payout, for a postback that carries none. */
  partnerPayoutCents?: number;
  /** A shared lead's buyers (multisell), by partner id. */
  buyers?: Record<string, SharedBuyer>;
}

export interface RouteCandidate {
  partnerId: string;
  priority: number;
  weight: number;
  deliveryTimeoutMs: number;
  deliveryMaxAttempts: number;
  postbackTimeoutMs: number;
  allowResale: boolean;
  /** The partner's default payout and currency, for answers that carry none. */
  payoutCents?: number;
  currency: string;
  /** Set for a ping-post partner: it bids in the auction and is posted to only if its bid wins. */
  ping?: { bidValidityMs: number };
  /** Set when the partner has a daily or hourly cap: a post to it takes a cap slot first. */
  capped?: true;
}

/** The auction's rules for this lead (ping-post partners among the candidates). */
export interface AuctionRules {
  timeoutMs: number;
  floorCents: number;
  currency: string;
  /** Multisell: how many buyers share the lead (absent: one). */
  winners?: number;
}

/** A buyer of a shared lead (multisell) and its own verdict; the lead's status follows from all of them. */
export interface SharedBuyer {
  status: 'pending' | 'accepted' | 'rejected' | 'expired' | 'returned';
  /** Its bid, or the payout its answer or postback carried: what it pays once accepted. */
  payoutCents: number;
  currency: string;
  /** While pending: when its postback is due (ISO). */
  expiresAt?: string;
  /** When its post was sent (ISO, the run's clock): its deciding postback's latency runs from then. */
  offeredAt?: string;
}

/** A run's first step: its lead; for an inbound ping's run, `ping` and when the run started (its ping). */
export interface StartLeadInput {
  leadId: string;
  ping?: boolean;
  /** Epoch ms: the source stops waiting for the answer pingAnswerWaitMs after it. */
  pingedAt?: number;
}

/** A run's first step: its lead, and the route plan of a lead still to be routed. */
export interface StartedLead {
  lead: LeadSnapshot;
  plan?: RoutePlan;
  /** An inbound ping's auction, pinged in the same step (startLead with `ping`, decision 0020). */
  pinged?: PingsSent;
}

export interface RoutePlan {
  candidates: RouteCandidate[];
  /** Partners left out, with why: shown in the lead's history. */
  skipped: { partnerId: string; reason: string }[];
  maxPartners: number;
  /** Present when some candidates are pinged first. */
  auction?: AuctionRules;
}

/** One ping's answer: a bid, a refusal, a timeout or an error, with why (stored in `bids`, shown on the lead). */
export interface PingResult {
  partnerId: string;
  outcome: 'bid' | 'refused' | 'timeout' | 'error';
  bidCents?: number;
  currency?: string;
  pingId?: string;
  reason?: string;
  latencyMs: number;
  /** When the ping was sent (ISO): a bid holds for `bidValidityMs` from then. */
  at: string;
}

/** A ping's answer as sent back to the workflow, with the HTTP status it came with (stored in `bids`). */
export type SentPing = PingResult & { httpStatus?: number };
/** An auction's bidders, pinged in one step (pingBidders); `timeoutMs` is what is left of the auction. */
export interface PingBiddersInput {
  leadId: string;
  sourceId?: string;
  partnerIds: string[];
  timeoutMs: number;
}
/** Every bidder's answer, and whether they are stored (else the workflow stores them with recordPings). */
export interface PingsSent {
  pings: SentPing[];
  stored: boolean;
}

export interface DeliveryResult {
  outcome: 'accepted' | 'rejected' | 'pending';
  httpStatus: number;
  latencyMs: number;
  rawStatus?: string;
  payoutCents?: number;
  reason?: string;
  /** When the lead was marked offered to the partner (`offeredAt`); absent from results recorded before it was returned. */
  offeredAt?: string;
}

export interface CapReservation {
  ok: boolean;
  slots: string[];
  reason?: string;
}

export interface RecordStatusInput {
  leadId: string;
  /** The lead's source, for its history event (absent from runs before it was passed: read from the lead). */
  sourceId?: string;
  seq: number;
  status: CanonicalStatus;
  at: string;
  reason: string;
  partnerId?: string;
  rawStatus?: string;
  postbackId?: string;
  payoutCents?: number;
  revenueDeltaCents?: number;
  currency?: string;
  expiresAt?: string;
  /**
   * A postback's status, from a run that delivered the lead itself: when it offered the lead to this partner
   * (absent: the lead was last offered to another), and the lead's status before this one. The activity then
   * times the partner's verdict without reading the lead; without it (another run, or one recorded before it was
   * passed) it reads them from the lead.
   */
  handed?: { offeredAt?: string; priorStatus: CanonicalStatus };
  /**
   * A shared lead (multisell): the event is one buyer's (`partnerId`, `status`), the lead document takes the
   * status and partner that follow from all its buyers, and the buyers themselves.
   */
  shared?: {
    status: CanonicalStatus;
    partnerId: string;
    buyers: Record<string, SharedBuyer>;
    /** On the buyer's deciding postback: ms from its post to it (reports count it). */
    decisionMs?: number;
  };
  /**
   * The source's notification of this status, first attempt made by this step once the status is stored (decision
   * 0025): the workflow schedules `notifySource` only when that attempt did not get through.
   */
  notify?: { eventId: string };
}

/** What recordStatus did with the notification it was given: absent when it was given none. */
export interface RecordStatusResult {
  notified?: 'delivered' | 'skipped' | 'failed';
}

export interface NotifyInput {
  leadId: string;
  status: CanonicalStatus;
  /** Stable per lead and status, so receivers can deduplicate retries and replays. */
  eventId: string;
  /** Attempts made before this activity's first (recordStatus's own, decision 0025): the log numbers on from them. */
  attemptsBefore?: number;
}

export interface NotifyResult {
  delivered: boolean;
  skipped?: string;
  httpStatus?: number;
}
