// The reports' read model: hourly buckets and the recent copy of status events (see ./buckets.ts, ./recent.ts).
import mongoose, { Schema } from 'mongoose';

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
 * a server that reads whole collections (FerretDB). Pruned by housekeeping (keepRecentStatusEvents in ./recent.ts). Two kinds
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
