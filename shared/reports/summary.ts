// The reports' summary query (GET /reports/summary): status counts, acceptance rate and revenue per source or
// partner over a time window.
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
import { AppError } from '../errors';
import type { Report, ReportQuery } from '../http';
import { StatusEvent } from '../models';
import { fromCents } from '../money';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../statuses';
import { bucketId, buildReportBuckets, closedUntil, hourRows, readOrigin } from './buckets';
import { currencyOf, floorHour, groupOf, HOUR_MS, NONE, recordedIn, type GroupBy } from './events';
import { marksLogged } from './marks';
import { recentRecorded } from './recent';
import { addMark, auctionFigures, type GroupMarks } from './figures';
import { addEvent, DUPLICATE, latencyMark, Tally } from './tally';

const DAY_MS = 86_400_000;
const MAX_WINDOW_MS = 366 * DAY_MS;

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
  for (const [dt, g, s, c, cur] of rows.ev) if (hour + dt >= t) tally.add(g, s, -sign, -sign * c, cur);
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
    for (const e of events) addEvent(tally, groupOf(groupBy, e), e);
    return;
  }
  const field = groupBy === 'partner' ? '$partnerId' : '$sourceId';
  const recorded = recordedIn(from, to);
  // Two single-accumulator pipelines: the portable subset every MongoDB-wire server runs the same way.
  const [counts, revenue, duplicates, decisions, marks] = await Promise.all([
    StatusEvent.aggregate<{ _id: { g: string | null; s: string }; n: number }>([
      { $match: recorded },
      { $group: { _id: { g: field, s: '$status' }, n: { $sum: 1 } } },
    ]),
    StatusEvent.aggregate<{ _id: { g: string | null; s: string; c: string | null }; cents: number }>([
      { $match: { ...recorded, revenueDeltaCents: { $ne: 0 } } },
      {
        $group: {
          _id: { g: field, s: '$status', c: '$currency' },
          cents: { $sum: '$revenueDeltaCents' },
        },
      },
    ]),
    StatusEvent.aggregate<{ _id: string | null; n: number }>([
      { $match: { ...recorded, duplicateOf: { $exists: true } } },
      { $group: { _id: field, n: { $sum: 1 } } },
    ]),
    // Few (one per decided lead) and bucketed here: the portable subset has no histogram operator.
    StatusEvent.find(
      { ...recorded, decisionMs: { $exists: true } },
      { sourceId: 1, partnerId: 1, decisionMs: 1 },
    ).lean(),
    marksLogged(from, to),
  ]);
  for (const m of marks) addEvent(tally, groupOf(groupBy, m), m);
  for (const d of decisions)
    if (typeof d.decisionMs === 'number')
      tally.add((groupBy === 'partner' ? d.partnerId : d.sourceId) ?? NONE, latencyMark(d.decisionMs), 1, 0);
  for (const c of counts) tally.add(c._id.g ?? NONE, c._id.s, c.n, 0);
  for (const d of duplicates) tally.add(d._id ?? NONE, DUPLICATE, d.n, 0);
  for (const r of revenue) tally.add(r._id.g ?? NONE, r._id.s, 0, r.cents, currencyOf(r.cents, r._id.c));
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
  const { from, to, tally } = await windowTally(query, now, options);
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    groupBy: query.groupBy,
    rows: reportRows(tally, query.groupBy),
  };
}

/** The window's counts, revenue and marks per group, status and currency: what every report is made of. */
export async function windowTally(
  query: ReportQuery,
  now: Date,
  options: SummaryOptions = {},
): Promise<{ from: number; to: number; tally: Tally }> {
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
  return { from, to, tally };
}

type Counts = Record<CanonicalStatus, number>;

/** A group's row before it is shaped for an answer: counts, revenue cents per currency, and its marks. */
export interface GroupTotals {
  counts: Counts;
  cents: Map<string, number>;
  marks: GroupMarks;
}

/** The window's tally per group: statuses counted, revenue per currency, marks (`+...` cells) kept apart. */
export function groupTotals(tally: Tally): Map<string, GroupTotals> {
  const rows = new Map<string, GroupTotals>();
  for (const [group, status, n, cents, currency] of tally.toCells()) {
    let r = rows.get(group);
    if (!r) {
      const counts = Object.fromEntries(CANONICAL_STATUSES.map((s) => [s, 0])) as Counts;
      rows.set(group, (r = { counts, cents: new Map(), marks: new Map() }));
    }
    if (status.startsWith('+')) {
      addMark(r.marks, status, n, cents, currency);
      continue;
    }
    if (status in r.counts) r.counts[status as CanonicalStatus] += n;
    if (currency) r.cents.set(currency, (r.cents.get(currency) ?? 0) + cents);
  }
  return rows;
}

/**
 * A row per group: counts over all currencies, revenue per currency (never added across them), and with
 * groupBy=partner the auctions of partners that were pinged.
 */
export function reportRows(tally: Tally, groupBy: GroupBy): Report['rows'] {
  return [...groupTotals(tally).entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, r]) => {
      const decided = r.counts.accepted + r.counts.rejected + r.counts.expired;
      const byCurrency = [...r.cents.entries()].sort(([a], [b]) => a.localeCompare(b));
      const [only] = byCurrency;
      const auction = groupBy === 'partner' ? auctionFigures(r.marks) : undefined;
      return {
        group,
        counts: r.counts,
        // Accepted out of the leads a partner decided on (or let expire) in the window.
        acceptanceRate: decided ? Math.round((r.counts.accepted / decided) * 10_000) / 10_000 : 0,
        revenueByCurrency: Object.fromEntries(byCurrency.map(([c, cents]) => [c, fromCents(cents)])),
        ...(byCurrency.length === 1 && only ? { revenue: fromCents(only[1]), currency: only[0] } : {}),
        ...(auction ? { auction } : {}),
      };
    });
}
