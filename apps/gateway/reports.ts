// GET /reports/summary: status counts, acceptance rate and revenue per source or partner over a time window.
// Counted by event time from the insert-only status events: a lead accepted today counts today.
//
// Closed hours are read from pre-aggregated buckets (report_buckets), written once and never updated:
//   h:<groupBy>:<hour>  the running totals of every event before the end of that hour, per group and status,
//                       and that hour's own events in compact form;
//   origin              the hour the running totals start at (no event is older).
// "Events before t" is then one bucket (the total at the end of t's hour minus that hour's events from t on),
// so a window [from, to) is two lookups by _id whatever its length. Events after the last closed hour are
// aggregated live. Rows are stored as JSON text: FerretDB decodes nested arrays element by element (about
// 90 µs each) but a string at once.
import type { mongo } from 'mongoose';
import type { z } from 'zod';
import { AppError } from '../../shared/errors';
import { ReportBucket, StatusEvent } from '../../shared/models';
import { fromCents } from '../../shared/money';
import type { reportQuerySchema, reportSchema } from '../../shared/schemas';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../../shared/statuses';

type ReportQuery = z.infer<typeof reportQuerySchema>;
type Report = z.infer<typeof reportSchema>;
export type GroupBy = 'source' | 'partner';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MAX_WINDOW_MS = 366 * DAY_MS;
/** How long after its event time a status event may still be written (workflow task to activity). */
export const BUCKET_GRACE_MS = 5 * 60_000;
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

interface EventLite {
  at: Date;
  sourceId?: string | null;
  partnerId?: string | null;
  status: string;
  revenueDeltaCents?: number | null;
}

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

/** Inserts buckets, ignoring the ones another builder inserted first (their content is the same). */
async function insertBuckets(docs: BucketDoc[]): Promise<void> {
  // The raw collection: our _ids are strings, and mongoose validation would only slow a bulk insert down.
  const collection = ReportBucket.collection as unknown as mongo.Collection<BucketDoc>;
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
 * Computes the buckets of every closed hour not yet built, from one read of their events. Safe to run
 * concurrently: buckets are insert-only and two builders compute the same content.
 */
export async function buildReportBuckets(
  now: Date,
  graceMs = BUCKET_GRACE_MS,
): Promise<{ hoursBuilt: number }> {
  const closed = closedUntil(now, graceMs);
  const lastHour = closed - HOUR_MS;
  const f = facts();
  if (f.builtThrough !== undefined && f.builtThrough >= lastHour) return { hoursBuilt: 0 };
  let origin = await readOrigin();
  let since: number;
  const running: Record<GroupBy, Tally> = { source: new Tally(), partner: new Tally() };
  if (origin === undefined) {
    since = -Infinity;
  } else {
    if (origin > lastHour) return { hoursBuilt: 0 };
    const built = await lastBuiltHour(origin, lastHour);
    if (built === lastHour) {
      f.builtThrough = lastHour;
      return { hoursBuilt: 0 };
    }
    if (built !== undefined) {
      for (const g of ['source', 'partner'] as const)
        running[g].addCells((await hourRows(g, built))?.cum ?? [], 1);
    }
    since = built === undefined ? origin : built + HOUR_MS;
  }
  const range = Number.isFinite(since)
    ? { $gte: new Date(since), $lt: new Date(closed) }
    : { $lt: new Date(closed) };
  const events = await StatusEvent.find(
    { at: range },
    { _id: 0, at: 1, sourceId: 1, partnerId: 1, status: 1, revenueDeltaCents: 1 },
  )
    .lean<EventLite[]>()
    .exec();
  if (origin === undefined) {
    origin = floorHour(events.reduce((min, e) => Math.min(min, e.at.getTime()), closed));
    await insertBuckets([{ _id: 'origin', hour: new Date(origin), groupBy: 'origin', rows: '[]' }]);
    origin = (await readOrigin()) ?? origin; // a concurrent first build may have won
    since = origin;
  }
  const byHour = new Map<number, EventLite[]>();
  for (const e of events) {
    const h = floorHour(e.at.getTime());
    const list = byHour.get(h);
    if (list) list.push(e);
    else byHour.set(h, [e]);
  }
  const docs: BucketDoc[] = [];
  let hoursBuilt = 0;
  for (let h = since; h <= lastHour; h += HOUR_MS) {
    const inHour = byHour.get(h) ?? [];
    for (const g of ['source', 'partner'] as const) {
      const group = (e: EventLite) => (g === 'source' ? e.sourceId : e.partnerId) ?? NONE;
      for (const e of inHour) running[g].add(group(e), e.status, 1, e.revenueDeltaCents ?? 0);
      const rows: HourRows = {
        cum: running[g].toCells(),
        ev: inHour.map((e) => [e.at.getTime() - h, group(e), e.status, e.revenueDeltaCents ?? 0]),
      };
      docs.push({ _id: bucketId(g, h), hour: new Date(h), groupBy: g, rows: JSON.stringify(rows) });
    }
    hoursBuilt += 1;
  }
  // In hour order, so the built hours stay a prefix (lastBuiltHour relies on it).
  await insertBuckets(docs);
  f.builtThrough = Math.max(f.builtThrough ?? -Infinity, lastHour);
  return { hoursBuilt };
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

/** Adds events in [from, to) straight from the status events (the hours not yet closed). */
async function addLive(tally: Tally, groupBy: GroupBy, from: number, to: number): Promise<void> {
  const field = groupBy === 'partner' ? '$partnerId' : '$sourceId';
  const at = { $gte: new Date(from), $lt: new Date(to) };
  // Two single-accumulator pipelines: the portable subset every MongoDB-wire server runs the same way.
  const [counts, revenue] = await Promise.all([
    StatusEvent.aggregate<{ _id: { g: string | null; s: string }; n: number }>([
      { $match: { at } },
      { $group: { _id: { g: field, s: '$status' }, n: { $sum: 1 } } },
    ]),
    StatusEvent.aggregate<{ _id: { g: string | null; s: string }; cents: number }>([
      { $match: { at, revenueDeltaCents: { $ne: 0 } } },
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
  /** Read closed hours from the buckets (building any missing ones); off means all live aggregation. */
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
  const closed = options.useBuckets === false ? -Infinity : closedUntil(now, options.graceMs);
  const until = Math.min(to, closed);
  if (from < until) {
    await buildReportBuckets(now, options.graceMs);
    await addClosed(tally, groupBy, from, until);
  }
  if (to > Math.max(from, until)) await addLive(tally, groupBy, Math.max(from, until), to);

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
