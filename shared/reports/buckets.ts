// report_buckets: the running totals and events of every closed hour, built once, never updated (./summary.ts).
import {
  BUCKET_GRACE_MS,
  floorHour,
  groupOf,
  HOUR_MS,
  insertNew,
  statusEventsInOrder,
  type Counted,
  type GroupBy,
} from './events';
import type { mongo } from 'mongoose';
import { marksInOrder, mergeInOrder } from './marks';
import { ReportBucket } from './model';
import { keepRecentStatusEvents, recentRecorded } from './recent';
import { addEvent, markEvents, Tally, type CompactEvent, type HourRows } from './tally';

const hourKey = (t: number) => new Date(t).toISOString().slice(0, 13);
/**
 * `h2:`: buckets whose cells keep revenue per currency. The `h:` buckets before them added all currencies
 * together; they are not read, and the first build of this version rebuilds every hour from status_events and
 * deletes them.
 */
export const bucketId = (groupBy: GroupBy, hour: number) => `h2:${groupBy}:${hourKey(hour)}`;
const OLD_BUCKETS = /^h:/;

/** End of the last hour whose buckets may be computed at `now`: hours ending before it can get no new events. */
export function closedUntil(now: Date, graceMs = BUCKET_GRACE_MS): number {
  return floorHour(now.getTime() - graceMs);
}

interface BucketDoc {
  _id: string;
  hour: Date;
  groupBy: string;
  rows: string;
}

export async function hourRows(groupBy: GroupBy, hour: number): Promise<HourRows | undefined> {
  const doc = await ReportBucket.findById(bucketId(groupBy, hour), { rows: 1 }).lean();
  return doc ? (JSON.parse(doc.rows as string) as HourRows) : undefined;
}

// The raw collections: our _ids are strings, and mongoose validation would only slow a bulk insert down.
const bucketCollection = () => ReportBucket.collection as unknown as mongo.Collection<BucketDoc>;

/**
 * Facts about a database's buckets that never change once true (buckets are insert-only): its origin hour and
 * that the running totals reach a given hour. Cached per database so a report costs only its own lookups.
 */
const known = new Map<string, { origin?: number; builtThrough?: number }>();
const facts = () => {
  const name = ReportBucket.db.name;
  let f = known.get(name);
  if (!f) known.set(name, (f = {}));
  return f;
};

/** The origin hour of the running totals, fixed by the first build. */
export async function readOrigin(): Promise<number | undefined> {
  const f = facts();
  if (f.origin !== undefined) return f.origin;
  const doc = await ReportBucket.findById('origin', { hour: 1 }).lean();
  if (doc) f.origin = doc.hour.getTime();
  return f.origin;
}

/** The last hour in [origin, last] whose running totals exist (they are built in order, without gaps). */
async function lastBuiltHour(origin: number, last: number): Promise<number | undefined> {
  const built = async (h: number) => (await ReportBucket.exists({ _id: bucketId('partner', h) })) !== null;
  if (await built(last)) return last;
  if (!(await built(origin))) return undefined;
  let lo = origin; // built
  let hi = last; // not built
  while (hi - lo > HOUR_MS) {
    const mid = floorHour(lo + (hi - lo) / 2);
    if (await built(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Bucket documents held before they are written: a bound on memory, not a unit of atomicity. */
const WRITE_BATCH = 200;

/** The build running in this process, per database: builds never overlap here (one builder at a time). */
const building = new Map<string, Promise<BuildResult>>();

interface BuildResult {
  hoursBuilt: number;
  builtUntil: number;
}

/**
 * Computes the buckets of every closed hour not yet built. Returns with `builtUntil`, the end of the hours built:
 * every event recorded before it is in the buckets. In this process one build runs at a time: a caller that
 * finds one running waits for it and then builds only what is left (usually nothing). Across processes builds
 * are safe to overlap (buckets are insert-only and two builders compute the same content), only wasteful.
 */
export function buildReportBuckets(now: Date, graceMs = BUCKET_GRACE_MS): Promise<BuildResult> {
  const key = ReportBucket.db.name;
  const run = (building.get(key) ?? Promise.resolve())
    .catch(() => undefined) // the previous build's failure is its own caller's
    .then(() => buildMissingHours(now, graceMs));
  building.set(key, run);
  run
    .finally(() => {
      if (building.get(key) === run) building.delete(key);
    })
    .catch(() => undefined);
  return run;
}

/**
 * The build itself: the events of the missing hours, read in recorded-time order (from the recent copy when it
 * covers them, the usual case: housekeeping builds each hour soon after it closes; else streamed from
 * status_events and the delivery and bid logs in batches), hour by hour into running totals, buckets written every WRITE_BATCH documents. It
 * holds one hour's events and one batch of documents, so the first build over years of events fits in as
 * little memory as the next one.
 */
async function buildMissingHours(now: Date, graceMs: number): Promise<BuildResult> {
  const closed = closedUntil(now, graceMs);
  const lastHour = closed - HOUR_MS;
  const done = { hoursBuilt: 0, builtUntil: closed };
  const f = facts();
  if (f.builtThrough !== undefined && f.builtThrough >= lastHour) return done;
  let origin = await readOrigin();
  let since: number;
  const running: Record<GroupBy, Tally> = { source: new Tally(), partner: new Tally() };
  if (origin === undefined) {
    since = -Infinity;
  } else {
    if (origin > lastHour) return done;
    const built = await lastBuiltHour(origin, lastHour);
    if (built === lastHour) {
      f.builtThrough = lastHour;
      return done;
    }
    if (built !== undefined) {
      for (const g of ['source', 'partner'] as const)
        running[g].addCells((await hourRows(g, built))?.cum ?? [], 1);
    }
    if (built === undefined) await ReportBucket.deleteMany({ _id: OLD_BUCKETS });
    since = built === undefined ? origin : built + HOUR_MS;
  }
  const recent = Number.isFinite(since) ? await recentRecorded(since, closed) : undefined;
  const events: AsyncIterable<Counted> | Iterable<Counted> = recent
    ? recent.sort((a, b) => a.t - b.t)
    : mergeInOrder([statusEventsInOrder(since, closed), marksInOrder(since, closed)]);

  const pending: BucketDoc[] = [];
  let hoursBuilt = 0;
  let inHour: Counted[] = [];
  /** Closes hour h with the events in `inHour`: its running totals and events, per grouping. */
  const closeHour = async (h: number) => {
    for (const g of ['source', 'partner'] as const) {
      for (const e of inHour) addEvent(running[g], groupOf(g, e), e, 1);
      const rows: HourRows = {
        cum: running[g].toCells(),
        // A mark is its own compact event, so "this hour's events from t on" subtracts it too.
        ev: inHour.flatMap((e): CompactEvent[] => [
          e.currency
            ? [e.t - h, groupOf(g, e), e.status, e.cents, e.currency]
            : [e.t - h, groupOf(g, e), e.status, e.cents],
          ...markEvents(e.t - h, groupOf(g, e), e),
        ]),
      };
      pending.push({ _id: bucketId(g, h), hour: new Date(h), groupBy: g, rows: JSON.stringify(rows) });
    }
    inHour = [];
    hoursBuilt += 1;
    // In hour order, so the built hours stay a prefix (lastBuiltHour relies on it).
    if (pending.length >= WRITE_BATCH) await insertNew(bucketCollection(), pending.splice(0));
  };
  const fixOrigin = async (first: number) => {
    await insertNew(bucketCollection(), [
      { _id: 'origin', hour: new Date(first), groupBy: 'origin', rows: '[]' },
    ]);
    return (await readOrigin()) ?? first; // a concurrent first build elsewhere may have won
  };

  let hour = since;
  for await (const e of events) {
    if (origin === undefined) hour = origin = await fixOrigin(floorHour(e.t));
    const h = floorHour(e.t);
    if (h < hour) continue; // older than an origin another gateway fixed first: not in any bucket, as before
    for (; hour < h; hour += HOUR_MS) await closeHour(hour);
    inHour.push(e);
  }
  if (origin === undefined) hour = origin = await fixOrigin(closed); // no event yet: nothing to build
  for (; hour <= lastHour; hour += HOUR_MS) await closeHour(hour);
  await insertNew(bucketCollection(), pending);
  f.builtThrough = Math.max(f.builtThrough ?? -Infinity, lastHour);
  return { hoursBuilt, builtUntil: closed };
}

/** Housekeeping for reports: the buckets of hours just closed, then the recent events they no longer need. */
export async function keepReportHouse(now: Date): ReturnType<typeof keepRecentStatusEvents> {
  const { builtUntil } = await buildReportBuckets(now);
  return keepRecentStatusEvents(builtUntil);
}
