// What one postback request carries through its steps: the request, what each step found, and the answer.
import type { ConfigIndex, PartnerConfig } from '../../../shared/config';
import type { PostbackParams } from '../../../shared/http';
import type { PostbackStatus } from '../../../shared/statuses';

export interface RawPostback {
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  requestId: string;
  partnerIdFromPath?: string;
}

export interface PostbackAnswer {
  httpStatus: 200 | 202;
  body:
    | { ok: true; leadId: string; status: PostbackStatus; duplicate: boolean; queued?: boolean }
    | { ok: true; test: true; leadId: string; status: PostbackStatus; wouldApply: boolean; reason: string };
}

/** What the postback path reads of a lead. */
export interface LeadHolder {
  partnerId?: string | null;
  offeredTo?: string | null;
  status: string;
  seq?: number;
  /** A shared lead's buyers (multisell) and each one's own verdict. */
  buyers?: Record<string, { status: string }> | null;
}

/** The fields of the log line that the steps learn on the way (the request itself is added when it is written). */
export interface PostbackLogFields {
  partnerId?: string;
  leadId?: string;
  txid?: string;
  rawStatus?: string;
  status?: PostbackStatus;
  payoutCents?: number;
  currency?: string;
  /** Test postbacks only: what would have happened. */
  wouldApply?: boolean;
  reason?: string;
}

/** One request on its way through the steps; each step fills in what it found, in this order. */
export interface PostbackContext {
  req: RawPostback;
  cfg: ConfigIndex;
  receivedAt: Date;
  /** The log line's id: StatusEvent.postbackId leads back to the request that caused it. */
  postbackId: string;
  log: PostbackLogFields;
  /** Query and body merged, under the names the partner sent. */
  raw?: Record<string, string>;
  partner?: PartnerConfig;
  params?: PostbackParams;
  /** `test=1`: everything is checked and logged, nothing applied (the answer says what would happen). */
  test?: boolean;
  /** Set once the partner proved who it is. */
  authenticated?: boolean;
  /** The replay key of a verified signature, recorded once the outcome is known. */
  signature?: string;
  lead?: LeadHolder;
  status?: PostbackStatus;
  answer?: PostbackAnswer;
}

/** A step of the postback pipeline, composed like Koa middleware. */
export type PostbackStep = (pc: PostbackContext, next: () => Promise<void>) => Promise<void>;

/** Narrows a field an earlier step must have set (a programming error otherwise, never the partner's). */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`postback step order: ${what} is not set yet`);
  return value;
}
