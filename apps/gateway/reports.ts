// GET /reports/summary: status counts, acceptance rate and revenue per source or partner over a time window.
// Counted by recorded time, when each status event was written (docs/routing.md, section 6): its event time give or
// take milliseconds, or the moment it reached the database after an outage. A closed hour therefore never changes.
//
// Closed hours are read from pre-aggregated buckets (report_buckets), written once and never updated:
//   h:<groupBy>:<hour>  the running totals of every event recorded before the end of that hour, per group and
//                       status, and that hour's own events in compact form;
//   origin              the hour the running totals start at (no event is older).
// "Events before t" is then one bucket (the total at the end of t's hour minus that hour's events from t on),
// so a window [from, to) is two lookups by _id whatever its length. Rows are stored as JSON text: FerretDB
// decodes nested arrays element by element (about 90 µs each) but a string at once.
//
// Events after the last closed hour, and those the next bucket build needs, are read from recent_status_events:
// the last few hours of events, small because housekeeping prunes it, so reading all of it is cheap even where
// every filter reads the whole collection (FerretDB). It says which events it holds (coverage markers); when it
// cannot cover a range (not seeded yet, or the range is older than what it keeps) status_events is read instead.
import type { mongo } from 'mongoose';
import type { z } from 'zod';
import { AppError } from '../../shared/errors';
import {
  RecentStatusEvent,
  recentCopy,
  ReportBucket,
  StatusEvent,
  type RecentRow,
} from '../../shared/models';
import { fromCents } from '../../shared/money';
import type { reportQuerySchema, reportSchema } from '../../shared/http';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../../shared/statuses';

type ReportQuery = z.infer<typeof reportQuerySchema>;
type Report = z.infer<typeof reportSchema>;
export type GroupBy = 'source' | 'partner';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MAX_WINDOW_MS = 366 * DAY_MS;
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
const NONE = '(none)';

const floorHour = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;
const hourKey = (t: number) => new Date(t).toISOString().slice(0, 13);
const bucketId = (groupBy: GroupBy, hour: number) => `h:${groupBy}:${hourKey(hour)}`;

/** End of the last hour whose buckets may be computed at `now`: hours ending before it can get no new events. */
export function closedUntil(now: Date, graceMs = BUCKET_GRACE_MS): number {
  return floorHour(now.getTime() - graceMs);
}

/** [group, status, count, revenue cents] */
type Cell = [string, string, number, number];
/** [ms into the hour, group, status, revenue cents] */
type CompactEvent = [number, string, string, number];
/** One hour of one grouping: running totals at its end, and its own events. */
interface HourRows {
  cum: Cell[];
  ev: CompactEvent[];
}

/** Counts and revenue per group and status, keyed "group\u0000status". */
class Tally {
  readonly cells = new Map<string, [number, number]>();

  add(group: string, status: string, n: number, cents: number): void {
    const key = `${group}\u0000${status}`;
    const cell = this.cells.get(key) ?? [0, 0];
    cell[0] += n;
    cell[1] += cents;
    this.cells.set(key, cell);
  }

  addCells(cells: Cell[], sign: 1 | -1): void {
    for (const [g, s, n, c] of cells) this.add(g, s, sign * n, sign * c);
  }

  toCells(): Cell[] {
    return [...this.cells.entries()]
      .filter(([, [n, c]]) => n !== 0 || c !== 0)
      .map(([key, [n, c]]) => {
        const [g = NONE, s = ''] = key.split('\u0000');
        return [g, s, n, c];
      });
  }
}

/** A status event as a report counts it: at its recorded time. */
interface Counted {
  t: number;
  sourceId: string | null;
  partnerId: string | null;
  status: string;
  cents: number;
}

const groupOf = (groupBy: GroupBy, e: Counted) => (groupBy === 'source' ? e.sourceId : e.partnerId) ?? NONE;

interface BucketDoc {
  _id: string;
  hour: Date;
  groupBy: string;
  rows: string;
}

async function hourRows(groupBy: GroupBy, hour: number): Promise<HourRows | undefined> {
  const doc = await ReportBucket.findById(bucketId(groupBy, hour), { rows: 1 }).lean();
  return doc ? (JSON.parse(doc.rows as string) as HourRows) : undefined;
}

/** Inserts documents, ignoring those another writer inserted first (insert-only: theirs are the same). */
async function insertNew<T extends { _id: string }>(
  collection: mongo.Collection<T>,
  docs: mongo.OptionalUnlessRequiredId<T>[],
): Promise<void> {
  for (let i = 0; i < docs.length; i += 500) {
    try {
      await collection.insertMany(docs.slice(i, i + 500), { ordered: false });
    } catch (err) {
      const e = err as { code?: number; writeErrors?: { code?: number }[] | { code?: number } };
      const writeErrors = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
      const allDuplicates =
        e.code === 11000 || (writeErrors.length > 0 && writeErrors.every((w) => w.code === 11000));
      if (!allDuplicates) throw err;
    }
  }
}

// The raw collections: our _ids are strings, and mongoose validation would only slow a bulk insert down.
const bucketCollection = () => ReportBucket.collection as unknown as mongo.Collection<BucketDoc>;
const recentCollection = () =>
  RecentStatusEvent.collection as unknown as mongo.Collection<{
    _id: string;
    recordedAt?: Date;
    row?: string;
    coversFrom?: Date;
  }>;

/** The status_events filter "recorded in [from, to)": by `at` for events from before `recordedAt` existed. */
function recordedIn(from: number, to = Infinity) {
  const range: { $gte?: Date; $lt?: Date } = {};
  if (Number.isFinite(from)) range.$gte = new Date(from);
  if (Number.isFinite(to)) range.$lt = new Date(to);
  return { $or: [{ recordedAt: range }, { recordedAt: { $exists: false }, at: range }] };
}

/** Status events recorded in [from, to), from status_events: a read of every event on FerretDB. */
async function statusEventsRecorded(from: number, to = Infinity): Promise<(Counted & { _id: string })[]> {
  const docs = await StatusEvent.find(recordedIn(from, to), {
    _id: 1,
    at: 1,
    recordedAt: 1,
    sourceId: 1,
    partnerId: 1,
    status: 1,
    revenueDeltaCents: 1,
  })
    .lean()
    .exec();
  return docs.map((e) => ({
    _id: e._id,
    t: (e.recordedAt ?? e.at).getTime(),
    sourceId: e.sourceId ?? null,
    partnerId: e.partnerId ?? null,
    status: e.status,
    cents: e.revenueDeltaCents ?? 0,
  }));
}

/**
 * The events recorded in [from, to) from recent_status_events, or undefined when it may not hold them all (no
 * coverage marker at or before `from`: not seeded yet, or pruned past it). Events and markers come in one
 * query, so on FerretDB they are one SQLite read: a prune cannot slip in between (it writes its marker first).
 */
async function recentRecorded(from: number, to: number): Promise<Counted[] | undefined> {
  const docs = await RecentStatusEvent.find(
    {
      $or: [{ recordedAt: { $gte: new Date(from), $lt: new Date(to) } }, { coversFrom: { $exists: true } }],
    },
    { _id: 0 },
  )
    .lean()
    .exec();
  let coversFrom = Infinity; // no marker: covers nothing
  const events: Counted[] = [];
  for (const d of docs) {
    if (d.coversFrom) {
      // The latest marker counts: older ones are only left over from the prunes that wrote newer ones.
      const t = d.coversFrom.getTime();
      coversFrom = coversFrom === Infinity ? t : Math.max(coversFrom, t);
    } else if (d.recordedAt && d.row) {
      const [sourceId, partnerId, status, cents] = JSON.parse(d.row) as RecentRow;
      events.push({ t: d.recordedAt.getTime(), sourceId, partnerId, status, cents });
    }
  }
  return coversFrom <= from ? events : undefined;
}

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
async function readOrigin(): Promise<number | undefined> {
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

/**
 * Computes the buckets of every closed hour not yet built, from one read of their events: the recent copy when it
 * covers them (the usual case: housekeeping builds each hour soon after it closes), else status_events. Safe to
 * run concurrently: buckets are insert-only and two builders compute the same content. Returns with `builtUntil`,
 * the end of the hours built: every event recorded before it is in the buckets.
 */
export async function buildReportBuckets(
  now: Date,
  graceMs = BUCKET_GRACE_MS,
): Promise<{ hoursBuilt: number; builtUntil: number }> {
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
    since = built === undefined ? origin : built + HOUR_MS;
  }
  const events =
    (Number.isFinite(since) ? await recentRecorded(since, closed) : undefined) ??
    (await statusEventsRecorded(since, closed));
  if (origin === undefined) {
    origin = floorHour(events.reduce((min, e) => Math.min(min, e.t), closed));
    await insertNew(bucketCollection(), [
      { _id: 'origin', hour: new Date(origin), groupBy: 'origin', rows: '[]' },
    ]);
    origin = (await readOrigin()) ?? origin; // a concurrent first build may have won
    since = origin;
  }
  const byHour = new Map<number, Counted[]>();
  for (const e of events) {
    const h = floorHour(e.t);
    const list = byHour.get(h);
    if (list) list.push(e);
    else byHour.set(h, [e]);
  }
  const docs: BucketDoc[] = [];
  let hoursBuilt = 0;
  for (let h = since; h <= lastHour; h += HOUR_MS) {
    const inHour = byHour.get(h) ?? [];
    for (const g of ['source', 'partner'] as const) {
      for (const e of inHour) running[g].add(groupOf(g, e), e.status, 1, e.cents);
      const rows: HourRows = {
        cum: running[g].toCells(),
        ev: inHour.map((e) => [e.t - h, groupOf(g, e), e.status, e.cents]),
      };
      docs.push({ _id: bucketId(g, h), hour: new Date(h), groupBy: g, rows: JSON.stringify(rows) });
    }
    hoursBuilt += 1;
  }
  // In hour order, so the built hours stay a prefix (lastBuiltHour relies on it).
  await insertNew(bucketCollection(), docs);
  f.builtThrough = Math.max(f.builtThrough ?? -Infinity, lastHour);
  return { hoursBuilt, builtUntil: closed };
}

const markerId = (t: number) => `covers:${new Date(t).toISOString()}`;

/**
 * Keeps recent_status_events small and says what it holds, given `builtUntil` from buildReportBuckets: events
 * recorded more than RECENT_MARGIN_MS before it are deleted. On the first run (no marker: a new database, or the
 * first run of a version with this collection) it copies the events recorded since then from status_events
 * instead, a read of every event, once. Safe to run concurrently: markers and copies are insert-only.
 */
export async function keepRecentStatusEvents(
  builtUntil: number,
): Promise<{ coversFrom: number; copied: number; pruned: number }> {
  const horizon = builtUntil - RECENT_MARGIN_MS;
  const markers = await RecentStatusEvent.find({ coversFrom: { $exists: true } }, { coversFrom: 1 }).lean();
  if (!markers.length) {
    // Events written from here on get their copy from insertStatusEvent; this copies the ones before.
    const copies = (await statusEventsRecorded(horizon)).map((e) =>
      recentCopy({ ...e, revenueDeltaCents: e.cents }, new Date(e.t)),
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

/** Housekeeping for reports: the buckets of hours just closed, then the recent events they no longer need. */
export async function keepReportHouse(now: Date): ReturnType<typeof keepRecentStatusEvents> {
  const { builtUntil } = await buildReportBuckets(now);
  return keepRecentStatusEvents(builtUntil);
}

/**
 * Adds `sign` times the events before `t` (t <= closedUntil): the running total at the end of t's hour minus
 * that hour's events from t on; for t on an hour boundary, the total at the end of the hour before.
 */
async function addEventsBefore(tally: Tally, groupBy: GroupBy, t: number, sign: 1 | -1): Promise<void> {
  const origin = (await readOrigin()) ?? Infinity;
  if (t <= origin) return; // no event is older than the origin
  const aligned = t % HOUR_MS === 0;
  const hour = aligned ? t - HOUR_MS : floorHour(t);
  const rows = await hourRows(groupBy, hour);
  if (!rows)
    throw new AppError(
      'dependency_unavailable',
      `report bucket ${bucketId(groupBy, hour)} is missing; retry`,
    );
  tally.addCells(rows.cum, sign);
  if (aligned) return;
  for (const [dt, g, s, c] of rows.ev) if (hour + dt >= t) tally.add(g, s, -sign, -sign * c);
}

/** Adds the closed part [from, until) of a window (until <= closedUntil) from the buckets. */
async function addClosed(tally: Tally, groupBy: GroupBy, from: number, until: number): Promise<void> {
  await Promise.all([addEventsBefore(tally, groupBy, until, 1), addEventsBefore(tally, groupBy, from, -1)]);
}

/**
 * Adds the events recorded in [from, to) (the part after the closed hours): from the recent copy when it covers
 * them, else, or when asked to (`recent` false), aggregated from status_events.
 */
async function addLive(
  tally: Tally,
  groupBy: GroupBy,
  from: number,
  to: number,
  recent: boolean,
): Promise<void> {
  const events = recent ? await recentRecorded(from, to) : undefined;
  if (events) {
    for (const e of events) tally.add(groupOf(groupBy, e), e.status, 1, e.cents);
    return;
  }
  const field = groupBy === 'partner' ? '$partnerId' : '$sourceId';
  const recorded = recordedIn(from, to);
  // Two single-accumulator pipelines: the portable subset every MongoDB-wire server runs the same way.
  const [counts, revenue] = await Promise.all([
    StatusEvent.aggregate<{ _id: { g: string | null; s: string }; n: number }>([
      { $match: recorded },
      { $group: { _id: { g: field, s: '$status' }, n: { $sum: 1 } } },
    ]),
    StatusEvent.aggregate<{ _id: { g: string | null; s: string }; cents: number }>([
      { $match: { ...recorded, revenueDeltaCents: { $ne: 0 } } },
      { $group: { _id: { g: field, s: '$status' }, cents: { $sum: '$revenueDeltaCents' } } },
    ]),
  ]);
  for (const c of counts) tally.add(c._id.g ?? NONE, c._id.s, c.n, 0);
  for (const r of revenue) tally.add(r._id.g ?? NONE, r._id.s, 0, r.cents);
}

function parseWindow(query: ReportQuery, now: Date): { from: number; to: number } {
  const to = query.to ? Date.parse(query.to) : now.getTime();
  const from = query.from ? Date.parse(query.from) : to - DAY_MS;
  const issues = [
    ...(Number.isNaN(from) ? [{ path: 'from', message: 'not a valid date' }] : []),
    ...(Number.isNaN(to) ? [{ path: 'to', message: 'not a valid date' }] : []),
  ];
  if (!issues.length && from > to) issues.push({ path: 'from', message: 'must not be after to' });
  if (!issues.length && to - from > MAX_WINDOW_MS)
    issues.push({ path: 'to', message: 'the window may span at most 366 days' });
  if (issues.length) throw new AppError('invalid_request', 'invalid report window', issues);
  return { from, to };
}

export interface SummaryOptions {
  /**
   * Read closed hours from the buckets (building any missing ones) and the rest from the recent copy; off means
   * one aggregation of status_events over the whole window, the reference the fast path is tested against.
   */
  useBuckets?: boolean;
  graceMs?: number;
}

export async function summaryReport(
  query: ReportQuery,
  now: Date,
  options: SummaryOptions = {},
): Promise<Report> {
  const { from, to } = parseWindow(query, now);
  const groupBy = query.groupBy;
  const tally = new Tally();
  const fast = options.useBuckets !== false;
  const closed = fast ? closedUntil(now, options.graceMs) : -Infinity;
  const until = Math.min(to, closed);
  const liveFrom = Math.max(from, until);
  // The two parts read different collections: concurrently, a report costs the slower of them.
  const parts: Promise<void>[] = [];
  if (from < until)
    parts.push(buildReportBuckets(now, options.graceMs).then(() => addClosed(tally, groupBy, from, until)));
  if (to > liveFrom) parts.push(addLive(tally, groupBy, liveFrom, to, fast));
  await Promise.all(parts);

  const rows = new Map<string, { counts: Record<CanonicalStatus, number>; cents: number }>();
  for (const [group, status, n, cents] of tally.toCells()) {
    let r = rows.get(group);
    if (!r)
      rows.set(
        group,
        (r = {
          counts: Object.fromEntries(CANONICAL_STATUSES.map((s) => [s, 0])) as Record<
            CanonicalStatus,
            number
          >,
          cents: 0,
        }),
      );
    if (status in r.counts) r.counts[status as CanonicalStatus] += n;
    r.cents += cents;
  }
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    groupBy,
    rows: [...rows.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([group, r]) => {
        const decided = r.counts.accepted + r.counts.rejected + r.counts.expired;
        return {
          group,
          counts: r.counts,
          // Accepted out of the leads a partner decided on (or let expire) in the window.
          acceptanceRate: decided ? Math.round((r.counts.accepted / decided) * 10_000) / 10_000 : 0,
          revenue: fromCents(r.cents),
          currency: 'USD',
        };
      }),
  };
}
