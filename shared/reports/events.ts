// Status events as reports count them (at their recorded time), read from status_events, and the insert-only
// writes the read model is made of. The design of the whole module is in ./summary.ts.
import type { mongo } from 'mongoose';
import { isDuplicateKey, StatusEvent } from '../models';
import { DEFAULT_CURRENCY } from '../money';

export type GroupBy = 'source' | 'partner';

export const HOUR_MS = 3_600_000;
/**
 * How long after its `recordedAt` a status event may take to become readable (its insert in flight), and how far
 * the writers' clocks may run behind the gateway's: an hour's bucket is built only this long after it ends.
 */
export const BUCKET_GRACE_MS = 5 * 60_000;
/**
 * How long recent_status_events keeps an event before the end of the last built hour. Builds read from that end
 * on, and reports' open part starts later still: the margin is for clocks that disagree and reports that race
 * a prune.
 */
export const RECENT_MARGIN_MS = 2 * HOUR_MS + BUCKET_GRACE_MS;
export const NONE = '(none)';

export const floorHour = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;

/** A status event as a report counts it: at its recorded time. */
export interface Counted {
  t: number;
  sourceId: string | null;
  partnerId: string | null;
  status: string;
  cents: number;
  /** The currency of `cents`; '' when the event moved no money. */
  currency: string;
  /** A `received` event of a lead flagged as a duplicate (settings.duplicates action `flag`). */
  duplicate?: boolean;
  /** On a partner's deciding postback: ms from the lead's delivery to it (counted in LATENCY_BOUNDS_MS). */
  decisionMs?: number;
}

/**
 * The currency an event's revenue is counted in: its own, or for an event that carries none (written before
 * events had one) the config's default currency, the one every partner without its own pays in.
 */
export const currencyOf = (cents: number, currency: string | null | undefined): string =>
  cents === 0 ? '' : (currency ?? DEFAULT_CURRENCY);

export const groupOf = (groupBy: GroupBy, e: Counted) =>
  (groupBy === 'source' ? e.sourceId : e.partnerId) ?? NONE;

/** Inserts documents, ignoring those another writer inserted first (insert-only: theirs are the same). */
export async function insertNew<T extends { _id: string }>(
  collection: mongo.Collection<T>,
  docs: mongo.OptionalUnlessRequiredId<T>[],
): Promise<void> {
  for (let i = 0; i < docs.length; i += 500) {
    try {
      await collection.insertMany(docs.slice(i, i + 500), { ordered: false });
    } catch (err) {
      // Not insertOnce: an unordered batch fails with one error listing each document's; only duplicates pass.
      const e = err as { writeErrors?: unknown[] | unknown };
      const writeErrors = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
      const allDuplicates =
        isDuplicateKey(err) || (writeErrors.length > 0 && writeErrors.every(isDuplicateKey));
      if (!allDuplicates) throw err;
    }
  }
}

/** The status_events filter "recorded in [from, to)": by `at` for events from before `recordedAt` existed. */
export function recordedIn(from: number, to = Infinity) {
  const range: { $gte?: Date; $lt?: Date } = {};
  if (Number.isFinite(from)) range.$gte = new Date(from);
  if (Number.isFinite(to)) range.$lt = new Date(to);
  return { $or: [{ recordedAt: range }, { recordedAt: { $exists: false }, at: range }] };
}

interface EventDoc {
  _id: string;
  at: Date;
  recordedAt?: Date | null;
  sourceId?: string | null;
  partnerId?: string | null;
  status: string;
  revenueDeltaCents?: number | null;
  currency?: string | null;
  duplicateOf?: string | null;
  decisionMs?: number | null;
}

const EVENT_FIELDS = {
  _id: 1,
  at: 1,
  recordedAt: 1,
  sourceId: 1,
  partnerId: 1,
  status: 1,
  revenueDeltaCents: 1,
  currency: 1,
  duplicateOf: 1,
  decisionMs: 1,
};

const counted = (e: EventDoc): Counted => ({
  t: (e.recordedAt ?? e.at).getTime(),
  sourceId: e.sourceId ?? null,
  partnerId: e.partnerId ?? null,
  status: e.status,
  cents: e.revenueDeltaCents ?? 0,
  currency: currencyOf(e.revenueDeltaCents ?? 0, e.currency),
  ...(e.duplicateOf ? { duplicate: true } : {}),
  ...(typeof e.decisionMs === 'number' ? { decisionMs: e.decisionMs } : {}),
});

/** Status events recorded in [from, to), from status_events: a read of every event on FerretDB. */
export async function statusEventsRecorded(
  from: number,
  to = Infinity,
): Promise<(Counted & { _id: string })[]> {
  const docs = await StatusEvent.find(recordedIn(from, to), EVENT_FIELDS).lean<EventDoc[]>().exec();
  return docs.map((e) => ({ _id: e._id, ...counted(e) }));
}

/**
 * Status events recorded in [from, to) in recorded-time order, streamed `batchSize` at a time: a reader holds a
 * batch, never the collection (the first bucket build reads every event ever written). Two sorted cursors,
 * merged: events with `recordedAt`, and by `at` those from before it existed.
 */
export async function* statusEventsInOrder(
  from: number,
  to: number,
  batchSize = 1000,
): AsyncGenerator<Counted> {
  const range: { $gte?: Date; $lt?: Date; $exists?: true } = { $exists: true };
  if (Number.isFinite(from)) range.$gte = new Date(from);
  if (Number.isFinite(to)) range.$lt = new Date(to);
  const events = StatusEvent.collection as unknown as mongo.Collection<EventDoc>;
  const open = (filter: mongo.Filter<EventDoc>, sort: mongo.Sort) =>
    events.find(filter, { projection: EVENT_FIELDS, sort, batchSize });
  const stamped = open({ recordedAt: range }, { recordedAt: 1 });
  const legacy = open({ recordedAt: { $exists: false }, at: range }, { at: 1 });
  try {
    const next = async (c: mongo.FindCursor<EventDoc>) => {
      const doc = await c.next();
      return doc ? counted(doc) : undefined;
    };
    let a = await next(stamped);
    let b = await next(legacy);
    while (a || b) {
      if (a && (!b || a.t <= b.t)) {
        yield a;
        a = await next(stamped);
      } else if (b) {
        yield b;
        b = await next(legacy);
      }
    }
  } finally {
    await Promise.all([stamped.close(), legacy.close()]);
  }
}
