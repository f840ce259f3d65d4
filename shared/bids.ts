// The `bids` collection: one document per ping of a ping-post auction (insert-only), shown in the lead's journey.
import mongoose, { Schema, type InferSchemaType } from 'mongoose';
import { indexPartnerCalls, partnerCallFields } from './models';

/**
 * `_id` is `<leadId>:<partnerId>`: a lead pings a partner at most once, so a retried activity cannot add a second.
 * `sourceId` is there when the lead was found.
 */
const bidSchema = new Schema({
  ...partnerCallFields,
  at: { type: Date, required: true },
  /** bid, refused, timeout or error. */
  outcome: { type: String, required: true },
  bidCents: Number,
  currency: String,
});
indexPartnerCalls(bidSchema);
export type BidDoc = InferSchemaType<typeof bidSchema>;
export const Bid = mongoose.model('Bid', bidSchema, 'bids');
