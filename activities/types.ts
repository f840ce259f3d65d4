// The activity contract: inputs and results shared by the activities and the workflow that schedules them.
import type { CanonicalStatus } from '../shared/statuses';

export interface NotifyPolicy {
  initialIntervalMs: number;
  maxIntervalMs: number;
  maxDurationMs: number;
}

export interface LeadSnapshot {
  leadId: string;
  sourceId: string;
  status: CanonicalStatus;
  partnerId?: string;
  payoutCents?: number;
  currency?: string;
  expiresAt?: string;
  /** The last recorded history sequence number; the workflow continues from it. */
  seq: number;
  /** Statuses the source wants to hear about, and how hard to try. */
  notifyOn: CanonicalStatus[];
  notifyPolicy: NotifyPolicy;
  /** The current partner's default payout, for a postback that carries none. */
  partnerPayoutCents?: number;
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
}

export interface RoutePlan {
  candidates: RouteCandidate[];
  /** Partners left out, with why: shown in the lead's history. */
  skipped: { partnerId: string; reason: string }[];
  maxPartners: number;
}

export interface DeliveryResult {
  outcome: 'accepted' | 'rejected' | 'pending';
  httpStatus: number;
  latencyMs: number;
  rawStatus?: string;
  payoutCents?: number;
  reason?: string;
}

export interface CapReservation {
  ok: boolean;
  slots: string[];
  reason?: string;
}

export interface RecordStatusInput {
  leadId: string;
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
}

export interface NotifyInput {
  leadId: string;
  status: CanonicalStatus;
  /** Stable per lead and status, so receivers can deduplicate retries and replays. */
  eventId: string;
}

export interface NotifyResult {
  delivered: boolean;
  skipped?: string;
  httpStatus?: number;
}
