// The `bids` collection: one document per ping of a ping-post auction (insert-only), shown in the lead's journey.
import mongoose, { Schema, type InferSchemaType } from 'mongoose';

const bidSchema = new Schema({
  /** `<leadId>:<partnerId>`: a lead pings a partner at most once, so a retried activity cannot add a second. */
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  partnerId: { type: String, required: true },
  at: { type: Date, required: true },
  /** bid, refused, timeout or error. */
  outcome: { type: String, required: true },
  bidCents: Number,
  currency: String,
  pingId: String,
  reason: String,
  latencyMs: Number,
  httpStatus: Number,
  /** The lead's source, when the lead was found. */
  sourceId: String,
});
bidSchema.index({ leadId: 1, at: 1 });
bidSchema.index({ partnerId: 1, at: -1 });
// Reports read pings by time where their recent copy does not reach (shared/reports/marks.ts).
bidSchema.index({ at: 1 });
export type BidDoc = InferSchemaType<typeof bidSchema>;
export const Bid = mongoose.model('Bid', bidSchema, 'bids');
