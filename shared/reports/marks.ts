// Report marks: what reports count beside status changes (leads offered to a partner, its pings and bids, its
// wins, posts refused after winning, pinged leads flagged duplicates at their post), taken from the deliveries
// and bids logs and the leads. Each is a recent copy written
// with its log line, so buckets and the open part of a window count them as they count status events; the same
// marks are derived from the logs where the recent copy does not reach (recordMarks in ./recent.ts writes them).
import type { mongo } from 'mongoose';
import { Bid } from '../bids';
import { Delivery, Lead } from '../models';
import { currencyOf, type Counted } from './events';
import { BID, DUPLICATE, OFFERED, PING, POST_REFUSED, WON } from './tally';

/** A report mark: a counted event with the id of its recent copy. */
export type Mark = Counted & { _id: string };

export interface DeliveryFacts {
  leadId: string;
  partnerId: string;
  sourceId?: string | null;
  attempt?: number | null;
  at: Date;
  outcome?: string | null;
  pingId?: string | null;
  /** Set on a failed attempt (an error) that was the post's last: no attempt follows it. */
  lastAttempt?: boolean | null;
}

/** The mark of a lead's first delivery attempt to a partner: offered, or won when it carries a ping id. */
export function offerMark(d: DeliveryFacts): Mark {
  return {
    _id: `mark:offer:${d.leadId}:${d.partnerId}`,
    t: d.at.getTime(),
    sourceId: d.sourceId ?? null,
    partnerId: d.partnerId,
    status: d.pingId ? WON : OFFERED,
    cents: 0,
    currency: '',
  };
}

/**
 * The mark of a partner refusing the post its winning bid earned, or none: an explicit rejection, or a post that
 * failed (transport error, timeout, 5xx) on its last attempt.
 */
export function refusedPostMark(d: DeliveryFacts): Mark | undefined {
  const failed = d.outcome === 'error' && d.lastAttempt === true;
  if (!d.pingId || (d.outcome !== 'rejected' && !failed)) return undefined;
  return { ...offerMark(d), _id: `mark:refused:${d.leadId}:${d.partnerId}`, status: POST_REFUSED };
}

/** The marks a delivery log line stands for (attempt 0 is a skip, not an offer). */
export function deliveryMarks(d: DeliveryFacts): Mark[] {
  const refused = refusedPostMark(d);
  return [...(d.attempt === 1 ? [offerMark(d)] : []), ...(refused ? [refused] : [])];
}

export interface BidFacts {
  leadId: string;
  partnerId: string;
  sourceId?: string | null;
  at: Date;
  outcome: string;
  bidCents?: number | null;
  currency?: string | null;
}

/** The mark of one ping: a bid with its amount, or a ping answered without one. */
export function bidMark(b: BidFacts): Mark {
  const bid = b.outcome === 'bid';
  const cents = bid ? (b.bidCents ?? 0) : 0;
  return {
    _id: `mark:ping:${b.leadId}:${b.partnerId}`,
    t: b.at.getTime(),
    sourceId: b.sourceId ?? null,
    partnerId: b.partnerId,
    status: bid ? BID : PING,
    cents,
    currency: currencyOf(cents, b.currency),
  };
}

/**
 * The mark of a pinged lead flagged a duplicate when its full lead came in: its `received` event was written at
 * the ping, before the person was known, so it cannot carry the flag a lead posted whole carries.
 */
export function duplicateMark(d: { leadId: string; sourceId: string; at: Date }): Mark {
  return {
    _id: `mark:duplicate:${d.leadId}`,
    t: d.at.getTime(),
    sourceId: d.sourceId,
    partnerId: null,
    status: DUPLICATE,
    cents: 0,
    currency: '',
  };
}

interface DuplicateFacts {
  _id: string;
  sourceId: string;
  duplicateAt: Date;
}
const duplicateFacts = (l: DuplicateFacts) =>
  duplicateMark({ leadId: l._id, sourceId: l.sourceId, at: l.duplicateAt });

const inRange = (from: number, to: number) => {
  const range: { $gte?: Date; $lt?: Date; $exists: true } = { $exists: true };
  if (Number.isFinite(from)) range.$gte = new Date(from);
  if (Number.isFinite(to)) range.$lt = new Date(to);
  return range;
};

const DELIVERY_FIELDS = {
  leadId: 1,
  partnerId: 1,
  sourceId: 1,
  attempt: 1,
  at: 1,
  outcome: 1,
  pingId: 1,
  lastAttempt: 1,
};
const BID_FIELDS = { leadId: 1, partnerId: 1, sourceId: 1, at: 1, outcome: 1, bidCents: 1, currency: 1 };
/** Delivery log lines that stand for a mark: first attempts, and refused or failed posts on a winning bid. */
const markingDeliveries = (from: number, to: number) => ({
  at: inRange(from, to),
  $or: [
    { attempt: 1 },
    { outcome: 'rejected', pingId: { $exists: true } },
    { outcome: 'error', lastAttempt: true, pingId: { $exists: true } },
  ],
});
const DUPLICATE_FIELDS = { sourceId: 1, duplicateAt: 1 };

/** The marks of [from, to) from the logs, read by their `at` indexes: where the recent copy does not reach. */
export async function marksLogged(from: number, to = Infinity): Promise<Mark[]> {
  const [deliveries, bids, duplicates] = await Promise.all([
    Delivery.find(markingDeliveries(from, to), DELIVERY_FIELDS).lean<DeliveryFacts[]>().exec(),
    Bid.find({ at: inRange(from, to) }, BID_FIELDS)
      .lean<BidFacts[]>()
      .exec(),
    Lead.find({ duplicateAt: inRange(from, to) }, DUPLICATE_FIELDS)
      .lean<DuplicateFacts[]>()
      .exec(),
  ]);
  return [...deliveries.flatMap(deliveryMarks), ...bids.map(bidMark), ...duplicates.map(duplicateFacts)];
}

/** The marks of [from, to) from the logs in time order, streamed `batchSize` log lines at a time. */
export async function* marksInOrder(from: number, to: number, batchSize = 1000): AsyncGenerator<Counted> {
  const deliveries = (Delivery.collection as unknown as mongo.Collection<DeliveryFacts>).find(
    markingDeliveries(from, to),
    { projection: DELIVERY_FIELDS, sort: { at: 1 }, batchSize },
  );
  const bids = (Bid.collection as unknown as mongo.Collection<BidFacts>).find(
    { at: inRange(from, to) },
    { projection: BID_FIELDS, sort: { at: 1 }, batchSize },
  );
  async function* fromDeliveries() {
    for await (const d of deliveries) yield* deliveryMarks(d);
  }
  const duplicates = (Lead.collection as unknown as mongo.Collection<DuplicateFacts>).find(
    { duplicateAt: inRange(from, to) },
    { projection: DUPLICATE_FIELDS, sort: { duplicateAt: 1 }, batchSize },
  );
  async function* fromBids() {
    for await (const b of bids) yield bidMark(b);
  }
  async function* fromDuplicates() {
    for await (const l of duplicates) yield duplicateFacts(l);
  }
  try {
    yield* mergeInOrder([fromDeliveries(), fromBids(), fromDuplicates()]);
  } finally {
    await Promise.all([deliveries.close(), bids.close(), duplicates.close()]);
  }
}

/** Merges streams each in time order into one in time order (ties: the earlier stream first). */
export async function* mergeInOrder(streams: AsyncIterator<Counted>[]): AsyncGenerator<Counted> {
  const heads = await Promise.all(streams.map((s) => s.next()));
  for (;;) {
    let pick = -1;
    for (const [i, h] of heads.entries()) {
      if (h.done) continue;
      const best = pick < 0 ? undefined : heads[pick];
      if (!best || best.done || h.value.t < best.value.t) pick = i;
    }
    const stream = streams[pick];
    const head = heads[pick];
    if (!stream || !head || head.done) return;
    yield head.value;
    heads[pick] = await stream.next();
  }
}
