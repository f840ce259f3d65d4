// recent_status_events, the reports' copy of the last few hours of status events: written with every status
// event (insertStatusEvent, the one way they are written: lead intake in the gateway, recordStatus in activities),
// read for the hours no bucket holds yet, pruned by housekeeping once the buckets have them.
import type { mongo } from 'mongoose';
import { BatchedInserts } from '../batched-inserts';
import { insertOnce, StatusEvent } from '../models';
import { currencyOf, insertNew, RECENT_MARGIN_MS, statusEventsRecorded, type Counted } from './events';
import { marksLogged, type Mark } from './marks';
import { RecentStatusEvent } from './model';

/**
 * Status events and their copies go in through the driver, each a group commit with the concurrent writers'
 * (a lead's intake, every running workflow's status): one insertMany per event-loop turn instead of one
 * round trip and one mongoose document each. The documents are built here in the schemas' shape.
 */
const eventInserts = new BatchedInserts<NewStatusEvent & { revenueDeltaCents: number; recordedAt: Date }>(
  () =>
    StatusEvent.collection as unknown as mongo.Collection<
      NewStatusEvent & { revenueDeltaCents: number; recordedAt: Date }
    >,
);
const recentInserts = new BatchedInserts<{ _id: string; recordedAt: Date; row: string }>(
  () =>
    RecentStatusEvent.collection as unknown as mongo.Collection<{
      _id: string;
      recordedAt: Date;
      row: string;
    }>,
);

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
  /** On a `received` event: the lead was flagged a duplicate of this one. */
  duplicateOf?: string;
  /** On a partner's deciding postback: ms from the lead's delivery to it. */
  decisionMs?: number;
}

/**
 * The recent copy's `row`: what a report needs of an event. `currency` is there when `cents` is not 0; copies
 * written before it existed lack it, and take it from their status event when read.
 */
export type RecentRow = [
  sourceId: string | null,
  partnerId: string | null,
  status: string,
  cents: number,
  currency?: string | null,
  duplicate?: 1 | 0,
  decisionMs?: number,
];

/** An event's document in recent_status_events. */
export function recentCopy(
  event: {
    _id: string;
    sourceId?: string | null;
    partnerId?: string | null;
    status: string;
    revenueDeltaCents: number | null | undefined; // not optional: a caller with its own name for it is told
    currency?: string | null;
    duplicate?: boolean;
    decisionMs?: number | null;
  },
  recordedAt: Date,
): { _id: string; recordedAt: Date; row: string } {
  const cents = event.revenueDeltaCents ?? 0;
  const row: RecentRow = [event.sourceId ?? null, event.partnerId ?? null, event.status, cents];
  const decided = typeof event.decisionMs === 'number';
  if (cents !== 0 || event.duplicate || decided)
    row.push(cents !== 0 ? currencyOf(cents, event.currency) : null);
  if (event.duplicate || decided) row.push(event.duplicate ? 1 : 0);
  if (decided) row.push(event.decisionMs as number);
  return { _id: event._id, recordedAt, row: JSON.stringify(row) };
}

/** The status event every lead starts with: `<leadId>:0`, written at intake. */
export function receivedEvent(
  leadId: string,
  sourceId: string,
  at: Date,
  duplicateOf?: string,
): NewStatusEvent {
  return {
    _id: `${leadId}:0`,
    leadId,
    sourceId,
    status: 'received',
    at,
    reason: 'received from source',
    ...(duplicateOf ? { duplicateOf } : {}),
  };
}

/**
 * Writes a status event and its recent copy, both stamped `recordedAt`: the one way
 * status events are written (lead intake, recordStatus), so the copy misses none. Returns false when the event
 * was already there (a retry). The copy goes first: an attempt that stops between the two leaves a copy, whose
 * stamp the retry gives the event; the other order would leave an event without a copy, missed by every hour
 * built before the retry. A retry that finds the event but no copy (pruned since) gives the copy the event's
 * stamp back: older than what the recent collection covers, it is not counted a second time.
 */
export async function insertStatusEvent(event: NewStatusEvent, recordedAt: Date): Promise<boolean> {
  const revenueDeltaCents = event.revenueDeltaCents ?? 0;
  let stamp = recordedAt;
  const copy = recentCopy({ ...event, revenueDeltaCents, duplicate: !!event.duplicateOf }, recordedAt);
  const copied = await insertOnce(() => recentInserts.insert(copy));
  if (!copied) {
    const earlier = await RecentStatusEvent.findById(event._id, { recordedAt: 1 }).lean();
    stamp = earlier?.recordedAt ?? recordedAt;
  }
  const fresh = await insertOnce(() =>
    eventInserts.insert({ ...event, revenueDeltaCents, recordedAt: stamp }),
  );
  if (!fresh) {
    const stored = await StatusEvent.findById(event._id, { at: 1, recordedAt: 1 }).lean();
    const storedStamp = stored?.recordedAt ?? stored?.at;
    if (storedStamp && storedStamp.getTime() !== stamp.getTime())
      await RecentStatusEvent.updateOne({ _id: event._id }, { $set: { recordedAt: storedStamp } });
  }
  return fresh;
}

// The raw collection: our _ids are strings, and mongoose validation would only slow a bulk insert down.
const recentCollection = () =>
  RecentStatusEvent.collection as unknown as mongo.Collection<{
    _id: string;
    recordedAt?: Date;
    row?: string;
    coversFrom?: Date;
  }>;

/**
 * The events recorded in [from, to) from recent_status_events, or undefined when it may not hold them all (no
 * coverage marker at or before `from`: not seeded yet, or pruned past it). Events and markers come in one
 * query, so on FerretDB they are one SQLite read: a prune cannot slip in between (it writes its marker first).
 */
export async function recentRecorded(from: number, to: number): Promise<Counted[] | undefined> {
  const docs = await RecentStatusEvent.find({
    $or: [{ recordedAt: { $gte: new Date(from), $lt: new Date(to) } }, { coversFrom: { $exists: true } }],
  })
    .lean()
    .exec();
  let coversFrom = Infinity; // no marker: covers nothing
  const events: Counted[] = [];
  const withoutCurrency = new Map<string, Counted>();
  for (const d of docs) {
    if (d.coversFrom) {
      // The latest marker counts: older ones are only left over from the prunes that wrote newer ones.
      const t = d.coversFrom.getTime();
      coversFrom = coversFrom === Infinity ? t : Math.max(coversFrom, t);
    } else if (d.recordedAt && d.row) {
      const [sourceId, partnerId, status, cents, currency, duplicate, decisionMs] = JSON.parse(
        d.row,
      ) as RecentRow;
      const e: Counted = {
        t: d.recordedAt.getTime(),
        sourceId,
        partnerId,
        status,
        cents,
        currency: currency ?? '',
        ...(duplicate ? { duplicate: true } : {}),
        ...(typeof decisionMs === 'number' ? { decisionMs } : {}),
      };
      if (cents !== 0 && !currency) withoutCurrency.set(d._id, e);
      events.push(e);
    }
  }
  if (coversFrom > from) return undefined;
  // Copies written before rows carried a currency: a few hours' worth at most, once, after an upgrade.
  if (withoutCurrency.size) {
    const stored = await StatusEvent.find(
      { _id: { $in: [...withoutCurrency.keys()] } },
      { currency: 1 },
    ).lean();
    const byId = new Map(stored.map((s) => [s._id, s.currency]));
    for (const [id, e] of withoutCurrency) e.currency = currencyOf(e.cents, byId.get(id));
  }
  return events;
}

/** Writes the marks' recent copies, stamped with their log line's time; a mark already there is kept. */
export async function recordMarks(marks: (Mark | undefined)[]): Promise<void> {
  const copies = marks
    .filter((m): m is Mark => m !== undefined)
    .map((m) =>
      recentCopy({ ...m, revenueDeltaCents: m.cents, currency: m.currency || null }, new Date(m.t)),
    );
  // Each with the concurrent writers' copies (a duplicate is an earlier attempt's: already there).
  await Promise.all(copies.map((copy) => insertOnce(() => recentInserts.insert(copy))));
}

const markerId = (t: number) => `covers:${new Date(t).toISOString()}`;

/**
 * Keeps recent_status_events small and says what it holds, given `builtUntil` from buildReportBuckets: events
 * recorded more than RECENT_MARGIN_MS before it are deleted. On the first run (no marker: a new database, or the
 * first run of a version with this collection) it copies the events recorded since then from status_events, and
 * the marks from the delivery and bid logs, instead: a read of every event, once. Safe to run concurrently: markers and copies are insert-only.
 */
export async function keepRecentStatusEvents(
  builtUntil: number,
): Promise<{ coversFrom: number; copied: number; pruned: number }> {
  const horizon = builtUntil - RECENT_MARGIN_MS;
  const markers = await RecentStatusEvent.find({ coversFrom: { $exists: true } }, { coversFrom: 1 }).lean();
  if (!markers.length) {
    // Events written from here on get their copy from insertStatusEvent; this copies the ones before.
    const [events, marks] = await Promise.all([statusEventsRecorded(horizon), marksLogged(horizon)]);
    const copies = [...events, ...marks].map((e) =>
      recentCopy({ ...e, revenueDeltaCents: e.cents, currency: e.currency || null }, new Date(e.t)),
    );
    await insertNew(recentCollection(), copies);
    await insertNew(recentCollection(), [{ _id: markerId(horizon), coversFrom: new Date(horizon) }]);
    return { coversFrom: horizon, copied: copies.length, pruned: 0 };
  }
  const coversFrom = Math.max(...markers.map((m) => (m.coversFrom as Date).getTime()));
  if (horizon <= coversFrom) return { coversFrom, copied: 0, pruned: 0 };
  // The marker first, then the deletes: a reader that does not see the new marker yet finds every event the
  // older one promised, and a reader that sees it does not ask for what is being deleted.
  await insertNew(recentCollection(), [{ _id: markerId(horizon), coversFrom: new Date(horizon) }]);
  const { deletedCount } = await RecentStatusEvent.deleteMany({ recordedAt: { $lt: new Date(horizon) } });
  await RecentStatusEvent.deleteMany({ coversFrom: { $lt: new Date(horizon) } });
  return { coversFrom: horizon, copied: 0, pruned: deletedCount };
}
