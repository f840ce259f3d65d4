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

/**
 * `ping_claims`: one document per auctioned lead (`_id` the lead id), inserted before its first ping. A workflow
 * task lost after its pings (worker killed) is retried; its retry finds the claim and pings no one again
 * (decision 0018). An insert on `_id`, the one key the Mongo-wire server looks up without a scan.
 */
const pingClaimSchema = new Schema({
  _id: { type: String, required: true },
  at: { type: Date, required: true },
});
export const PingClaim = mongoose.model('PingClaim', pingClaimSchema, 'ping_claims');
