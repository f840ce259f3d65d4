// MongoDB collections, one mongoose model each. Writes are designed to be safe without multi-document
// transactions or read-modify-write atomicity: a lead document has one writer (its workflow), logs are
// insert-only, and every "exactly once" claim is an insert on a unique _id (see docs/decisions).
import mongoose, { Schema, type InferSchemaType } from 'mongoose';
import { RecentStatusEvent, ReportBucket } from './reports/model';

export { RecentStatusEvent, ReportBucket };

const geoSchema = new Schema({ country: String, state: String, zip: String }, { _id: false });

const leadSchema = new Schema(
  {
    _id: { type: String, required: true },
    sourceId: { type: String, required: true },
    clickId: String,
    vertical: String,
    geo: geoSchema,
    contact: Schema.Types.Mixed,
    data: Schema.Types.Mixed,
    sub1: String,
    sub2: String,
    sub3: String,
    sub4: String,
    sub5: String,
    status: { type: String, required: true },
    partnerId: String,
    /**
     * The partner the lead was last handed to, written before the HTTP call: a partner that posts back
     * while its delivery is still in flight is recognised without reading the delivery log.
     */
    offeredTo: String,
    offeredAt: Date,
    /** Payout agreed for the sale (kept after a return, for the record). */
    payoutCents: Number,
    /** What the lead earns now: the payout when accepted, 0 after a return. */
    revenueCents: { type: Number, default: 0 },
    currency: String,
    /** When a pending lead expires without a postback. */
    expiresAt: Date,
    finalAt: Date,
    /** Keyed hashes of the person's email and phone (shared/identity.ts), never the clear values. */
    identity: { type: [String], default: undefined },
    /** The earlier lead of the same person, when settings.duplicates.action is `flag`. */
    duplicateOf: String,
    /**
     * When a pinged lead was flagged a duplicate: at its post, after its `received` event (written at the ping)
     * was counted; reports count the duplicate then (shared/reports/marks.ts).
     */
    duplicateAt: Date,
    /** A shared lead's buyers (multisell): partner id -> its status, payout, currency and deadline. */
    buyers: Schema.Types.Mixed,
    /** The last workflow history event this document reflects, so replayed activities never go backwards. */
    seq: { type: Number, default: 0 },
  },
  { timestamps: true, minimize: false },
);
leadSchema.index({ sourceId: 1, createdAt: -1 });
leadSchema.index({ partnerId: 1, createdAt: -1 });
leadSchema.index({ status: 1, updatedAt: -1 });
leadSchema.index({ createdAt: -1 });
leadSchema.index({ identity: 1, partnerId: 1 }, { sparse: true });
leadSchema.index({ duplicateAt: 1 }, { sparse: true });
export type LeadDoc = InferSchemaType<typeof leadSchema>;
export const Lead = mongoose.model('Lead', leadSchema, 'leads');

/**
 * What the reconciler keeps on an outbox entry it could not send (apps/gateway/outbox.ts): attempts so far, when
 * to try again, the last error, and `deadAt` once it gave up (listed and retried through /admin/outbox).
 */
const outboxAttemptFields = { attempts: Number, nextAttemptAt: Date, lastError: String, deadAt: Date };

/** Leads whose workflow has not been started yet (Temporal was down at intake): the intake outbox. */
const intakeOutboxSchema = new Schema({
  _id: String,
  createdAt: { type: Date, default: () => new Date() },
  ...outboxAttemptFields,
});
export const IntakeOutbox = mongoose.model('IntakeOutbox', intakeOutboxSchema, 'intake_outbox');

/** Status changes, insert-only; the lead's history and the source of the revenue reports. */
const statusEventSchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  sourceId: String,
  partnerId: String,
  status: { type: String, required: true },
  at: { type: Date, required: true },
  reason: String,
  rawStatus: String,
  postbackId: String,
  /** +payout on acceptance, -payout on a return: revenue is the sum over a window. */
  revenueDeltaCents: { type: Number, default: 0 },
  currency: String,
  /** On a `received` event of a lead flagged as a duplicate: the lead it repeats (counted by reports). */
  duplicateOf: String,
  /** On a partner's deciding postback: ms from the lead's delivery (offeredAt) to it (counted by reports). */
  decisionMs: Number,
  /**
   * When it was written (the writer's clock): the time reports count it at. Events older than this field
   * have none; their `at` stands in. Written by insertStatusEvent, the same as its recent copy's.
   */
  recordedAt: Date,
});
statusEventSchema.index({ leadId: 1, at: 1 });
statusEventSchema.index({ at: 1 });
statusEventSchema.index({ recordedAt: 1 });
export type StatusEventDoc = InferSchemaType<typeof statusEventSchema>;
export const StatusEvent = mongoose.model('StatusEvent', statusEventSchema, 'status_events');

/**
 * A logged call to a partner, a delivery attempt or an auction's ping (`bids`, shared/bids.ts), insert-only:
 * whose lead, which partner, when, how it went and how fast, and the lead's source so reports count it per source.
 */
export const partnerCallFields = {
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  partnerId: { type: String, required: true },
  at: Date,
  outcome: String,
  httpStatus: Number,
  latencyMs: Number,
  reason: String,
  sourceId: String,
  pingId: String,
};

/** A lead's calls for its journey, a partner's newest first, and all by time for the reports (shared/reports/marks.ts). */
export function indexPartnerCalls(schema: Schema): void {
  schema.index({ leadId: 1, at: 1 });
  schema.index({ partnerId: 1, at: -1 });
  schema.index({ at: 1 });
}

/** One HTTP attempt to hand a lead to a partner; `pingId` on a post on a winning bid (reports count it a win). */
const deliverySchema = new Schema({
  ...partnerCallFields,
  attempt: Number,
  rawStatus: String,
  /** On a failed attempt that was the last its retry policy allows. */
  lastAttempt: Boolean,
});
indexPartnerCalls(deliverySchema);
export const Delivery = mongoose.model('Delivery', deliverySchema, 'deliveries');

/** One attempt to notify a traffic source (insert-only). */
const notificationSchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  sourceId: String,
  status: String,
  eventId: String,
  attempt: Number,
  at: Date,
  url: String,
  ok: Boolean,
  httpStatus: Number,
  latencyMs: Number,
  error: String,
  exhausted: Boolean,
});
notificationSchema.index({ leadId: 1, at: 1 });
notificationSchema.index({ exhausted: 1, at: -1 });
export const Notification = mongoose.model('Notification', notificationSchema, 'notifications');

/** Every postback request, good or bad, with its outcome and handling time. */
const postbackLogSchema = new Schema({
  receivedAt: { type: Date, required: true },
  method: String,
  path: String,
  query: Schema.Types.Mixed,
  body: Schema.Types.Mixed,
  headers: Schema.Types.Mixed,
  ip: String,
  requestId: String,
  partnerId: String,
  leadId: String,
  rawStatus: String,
  status: String,
  txid: String,
  payoutCents: Number,
  currency: String,
  outcome: { type: String, required: true },
  httpStatus: Number,
  errorCode: String,
  errorMessage: String,
  latencyMs: Number,
  /** A test postback (outcome `test`): whether it would have been applied, and why (or why not). */
  wouldApply: Boolean,
  reason: String,
  /** Set on refused and test requests only: housekeeping deletes the line after it (applied ones are kept). */
  expiresAt: Date,
});
postbackLogSchema.index({ leadId: 1, receivedAt: 1 });
postbackLogSchema.index({ expiresAt: 1 });
postbackLogSchema.index({ receivedAt: -1 });
export const PostbackLog = mongoose.model('PostbackLog', postbackLogSchema, 'postbacks');

/**
 * The claim that a postback's effect (lead + canonical status) is applied once, and the outbox of its
 * signal: `sentAt` is set once Temporal has it; the reconciler re-sends claims left without one.
 */
const postbackClaimSchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  postbackId: { type: String, required: true },
  signal: { type: Schema.Types.Mixed, required: true },
  claimedAt: { type: Date, required: true },
  sentAt: Date,
  /** Sent by the reconciler only once the lead's status allows it (a chargeback that overtook its approval). */
  waitsForLead: Boolean,
  ...outboxAttemptFields,
});
postbackClaimSchema.index({ sentAt: 1, claimedAt: 1 });
export const PostbackClaim = mongoose.model('PostbackClaim', postbackClaimSchema, 'postback_effects');

/** A cap slot: `<partner>:<period>:<n>` for n in 1..cap; inserting one is taking it. */
const capSlotSchema = new Schema({
  _id: { type: String, required: true },
  partnerId: { type: String, required: true },
  period: { type: String, required: true },
  leadId: { type: String, required: true },
  takenAt: { type: Date, required: true },
});
capSlotSchema.index({ partnerId: 1, period: 1 });
capSlotSchema.index({ leadId: 1 });
capSlotSchema.index({ takenAt: 1 });
export const CapSlot = mongoose.model('CapSlot', capSlotSchema, 'cap_slots');

/** Signatures already seen, so a captured signed postback cannot be replayed. */
const signatureNonceSchema = new Schema({
  _id: { type: String, required: true },
  expiresAt: { type: Date, required: true },
});
signatureNonceSchema.index({ expiresAt: 1 });
export const SignatureNonce = mongoose.model('SignatureNonce', signatureNonceSchema, 'signature_nonces');

// The report collections (report_buckets, recent_status_events) are defined with their module, shared/reports.
export const ALL_MODELS = [
  Lead,
  IntakeOutbox,
  StatusEvent,
  Delivery,
  Notification,
  PostbackLog,
  PostbackClaim,
  CapSlot,
  SignatureNonce,
  ReportBucket,
  RecentStatusEvent,
];

/** True for MongoDB's duplicate-key error: the signal that an insert-claim was already taken. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/**
 * Insert once: runs `create` (an insert with a chosen `_id` or a unique key) and answers true when it inserted,
 * false when the document was already there. Insert-only writes are how this project stays idempotent on
 * MongoDB and FerretDB alike (decision 0002); any other error is thrown.
 */
export async function insertOnce(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return false;
  }
}
