// MongoDB collections, one mongoose model each. Writes are designed to be safe without multi-document
// transactions or read-modify-write atomicity: a lead document has one writer (its workflow), logs are
// insert-only, and every "exactly once" claim is an insert on a unique _id (see docs/decisions).
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

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
    /** The last workflow history event this document reflects, so replayed activities never go backwards. */
    seq: { type: Number, default: 0 },
  },
  { timestamps: true, minimize: false },
);
leadSchema.index({ sourceId: 1, createdAt: -1 });
leadSchema.index({ partnerId: 1, createdAt: -1 });
leadSchema.index({ status: 1, updatedAt: -1 });
leadSchema.index({ createdAt: -1 });
export type LeadDoc = InferSchemaType<typeof leadSchema>;
export const Lead = mongoose.model('Lead', leadSchema, 'leads');

/** Leads whose workflow has not been started yet (Temporal was down at intake): the intake outbox. */
const intakeOutboxSchema = new Schema({ _id: String, createdAt: { type: Date, default: () => new Date() } });
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

/** One HTTP attempt to hand a lead to a partner (insert-only). */
const deliverySchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  partnerId: { type: String, required: true },
  attempt: Number,
  at: Date,
  outcome: String,
  httpStatus: Number,
  latencyMs: Number,
  reason: String,
  rawStatus: String,
});
deliverySchema.index({ leadId: 1, at: 1 });
deliverySchema.index({ partnerId: 1, at: -1 });
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
});
postbackLogSchema.index({ leadId: 1, receivedAt: 1 });
postbackLogSchema.index({ receivedAt: -1 });
export const PostbackLog = mongoose.model('PostbackLog', postbackLogSchema, 'postbacks');

/**
 * The claim that a postback's effect (lead + canonical status) is applied once, and the outbox of its
 * signal: `sentAt` is set once Temporal has it; the reconciler re-sends claims left without one.
 */
const postbackEffectSchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  postbackId: { type: String, required: true },
  signal: { type: Schema.Types.Mixed, required: true },
  claimedAt: { type: Date, required: true },
  sentAt: Date,
});
postbackEffectSchema.index({ sentAt: 1, claimedAt: 1 });
export const PostbackEffect = mongoose.model('PostbackEffect', postbackEffectSchema, 'postback_effects');

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

/** Report counts of one closed hour, computed once (the hour's events can no longer change). */
const reportBucketSchema = new Schema({
  _id: { type: String, required: true },
  hour: { type: Date, required: true },
  groupBy: { type: String, required: true },
  rows: { type: Schema.Types.Mixed, required: true },
});
reportBucketSchema.index({ groupBy: 1, hour: 1 });
export const ReportBucket = mongoose.model('ReportBucket', reportBucketSchema, 'report_buckets');

/**
 * The last few hours of status events, as the report counts them: small, so that reading all of it is cheap on
 * a server that reads whole collections (FerretDB). Pruned by housekeeping (apps/gateway/reports.ts). Two kinds
 * of documents, read together in one query:
 * - an event: the status event's `_id` (so a retried write is a no-op), `recordedAt`, and `row`, the JSON text
 *   `[sourceId, partnerId, status, revenueDeltaCents]` (FerretDB decodes one string faster than four fields);
 * - a coverage marker `covers:<time>` with `coversFrom`: every event recorded since then is here. The latest
 *   marker counts; none means the collection covers nothing yet.
 */
const recentStatusEventSchema = new Schema({
  _id: { type: String, required: true },
  recordedAt: Date,
  row: String,
  coversFrom: Date,
});
recentStatusEventSchema.index({ recordedAt: 1 });
export const RecentStatusEvent = mongoose.model(
  'RecentStatusEvent',
  recentStatusEventSchema,
  'recent_status_events',
);

export const ALL_MODELS = [
  Lead,
  IntakeOutbox,
  StatusEvent,
  Delivery,
  Notification,
  PostbackLog,
  PostbackEffect,
  CapSlot,
  SignatureNonce,
  ReportBucket,
  RecentStatusEvent,
];

/** True for MongoDB's duplicate-key error: the signal that an insert-claim was already taken. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/** A status event as written: every field but `recordedAt` as the writer decided it. */
export interface NewStatusEvent {
  _id: string;
  leadId: string;
  sourceId?: string;
  partnerId?: string;
  status: string;
  at: Date;
  reason?: string;
  rawStatus?: string;
  postbackId?: string;
  revenueDeltaCents?: number;
  currency?: string;
}

/** The recent copy's `row`: what a report needs of an event. */
export type RecentRow = [sourceId: string | null, partnerId: string | null, status: string, cents: number];

/** An event's document in recent_status_events. */
export function recentCopy(
  event: {
    _id: string;
    sourceId?: string | null;
    partnerId?: string | null;
    status: string;
    revenueDeltaCents: number | null | undefined; // not optional: a caller with its own name for it is told
  },
  recordedAt: Date,
): { _id: string; recordedAt: Date; row: string } {
  const row: RecentRow = [
    event.sourceId ?? null,
    event.partnerId ?? null,
    event.status,
    event.revenueDeltaCents ?? 0,
  ];
  return { _id: event._id, recordedAt, row: JSON.stringify(row) };
}

const insertIgnoringDuplicate = async (create: () => Promise<unknown>): Promise<boolean> => {
  try {
    await create();
    return true;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return false;
  }
};

/**
 * Writes a status event and its recent copy (apps/gateway/reports.ts), both stamped `recordedAt`: the one way
 * status events are written (lead intake, recordStatus), so the copy misses none. Returns false when the event
 * was already there (a retry). The copy goes first: an attempt that stops between the two leaves a copy, whose
 * stamp the retry gives the event; the other order would leave an event without a copy, missed by every hour
 * built before the retry. A retry that finds the event but no copy (pruned since) gives the copy the event's
 * stamp back: older than what the recent collection covers, it is not counted a second time.
 */
export async function insertStatusEvent(event: NewStatusEvent, recordedAt: Date): Promise<boolean> {
  const revenueDeltaCents = event.revenueDeltaCents ?? 0;
  let stamp = recordedAt;
  const copy = recentCopy({ ...event, revenueDeltaCents }, recordedAt);
  const copied = await insertIgnoringDuplicate(() => RecentStatusEvent.create(copy));
  if (!copied) {
    const earlier = await RecentStatusEvent.findById(event._id, { recordedAt: 1 }).lean();
    stamp = earlier?.recordedAt ?? recordedAt;
  }
  const fresh = await insertIgnoringDuplicate(() =>
    StatusEvent.create({ ...event, revenueDeltaCents, recordedAt: stamp }),
  );
  if (!fresh) {
    const stored = await StatusEvent.findById(event._id, { at: 1, recordedAt: 1 }).lean();
    const storedStamp = stored?.recordedAt ?? stored?.at;
    if (storedStamp && storedStamp.getTime() !== stamp.getTime())
      await RecentStatusEvent.updateOne({ _id: event._id }, { $set: { recordedAt: storedStamp } });
  }
  return fresh;
}
