// Partner and source performance (GET /reports/partners, /reports/sources): the summary's counts and revenue per
// group with the rates a router decides by. The same read model as the summary, so the same cost.
import type { PerformanceQuery, PerformanceReport } from '../http';
import { Notification, PostbackLog } from '../models';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../statuses';
import { NONE } from './events';
import { auctionFigures, offeredOf, perLead, type GroupMarks } from './figures';
import { groupTotals, reportRows, windowTally, type GroupTotals, type SummaryOptions } from './summary';
import { DUPLICATE, LATENCY, LATENCY_BOUNDS_MS } from './tally';

/**
 * Postbacks refused in [from, to) per partner and error code, from the postback log: not in the buckets, as
 * refused lines are kept only for their retention (housekeeping deletes them), and the log is read by its
 * receivedAt index.
 */
async function refusalsByPartner(from: number, to: number): Promise<Map<string, Record<string, number>>> {
  const groups = await PostbackLog.aggregate<{ _id: { p: string | null; c: string | null }; n: number }>([
    { $match: { outcome: 'rejected', receivedAt: { $gte: new Date(from), $lt: new Date(to) } } },
    { $group: { _id: { p: '$partnerId', c: '$errorCode' }, n: { $sum: 1 } } },
  ]);
  const byPartner = new Map<string, Record<string, number>>();
  for (const g of groups) {
    const codes = byPartner.get(g._id.p ?? NONE) ?? {};
    const code = g._id.c ?? NONE;
    codes[code] = (codes[code] ?? 0) + g.n;
    byPartner.set(g._id.p ?? NONE, codes);
  }
  return byPartner;
}

/**
 * The p-th percentile of a latency histogram (counts per LATENCY_BOUNDS_MS bucket), interpolated linearly within
 * its bucket; in the open-ended last bucket, that bucket's lower bound. null for an empty histogram.
 */
export function percentileMs(histogram: number[], p: number): number | null {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = p * total;
  let below = 0;
  for (const [i, n] of histogram.entries()) {
    if (n > 0 && below + n >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] ?? 0);
      const upper = LATENCY_BOUNDS_MS[i] ?? Infinity;
      if (!Number.isFinite(upper)) return lower;
      return Math.round(lower + ((upper - lower) * (rank - below)) / n);
    }
    below += n;
  }
  return null;
}

/**
 * Source notifications whose retries ran out in [from, to), per source: from the notifications log by its
 * `{ exhausted, at }` index (one line per exhaustion; a replay afterwards does not undo the count).
 */
async function exhaustedBySource(from: number, to: number): Promise<Map<string, number>> {
  const groups = await Notification.aggregate<{ _id: string | null; n: number }>([
    { $match: { exhausted: true, at: { $gte: new Date(from), $lt: new Date(to) } } },
    { $group: { _id: '$sourceId', n: { $sum: 1 } } },
  ]);
  return new Map(groups.map((g) => [g._id ?? NONE, g.n]));
}

const rate = (n: number, of: number) => (of ? Math.round((n / of) * 10_000) / 10_000 : 0);

export async function performanceReport(
  groupBy: 'partner' | 'source',
  query: PerformanceQuery,
  now: Date,
  options: SummaryOptions = {},
): Promise<PerformanceReport> {
  const { from, to, tally } = await windowTally({ ...query, groupBy }, now, options);
  const totals = groupTotals(tally);
  const refusals = groupBy === 'partner' ? await refusalsByPartner(from, to) : new Map<string, never>();
  const exhausted = groupBy === 'source' ? await exhaustedBySource(from, to) : new Map<string, number>();
  // A partner (source) whose only traffic in the window was refused postbacks (exhausted notifications) still
  // gets its row.
  for (const group of [...refusals.keys(), ...exhausted.keys()])
    if (!totals.has(group)) totals.set(group, emptyTotals());
  const summary = new Map(reportRows(tally, groupBy).map((r) => [r.group, r]));
  const rows = [...totals.entries()].sort(([a], [b]) => a.localeCompare(b));
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    groupBy,
    rows: rows.map(([group, r]) => {
      const c = r.counts;
      const histogram = latencyHistogram(r.marks);
      const revenueByCurrency = summary.get(group)?.revenueByCurrency ?? {};
      const offered = offeredOf(r.marks);
      const auction = groupBy === 'partner' ? auctionFigures(r.marks) : undefined;
      return {
        group,
        offered,
        delivered: c.pending,
        accepted: c.accepted,
        rejected: c.rejected,
        expired: c.expired,
        returned: c.returned,
        failed: c.failed,
        duplicates: [...(r.marks.get(DUPLICATE)?.values() ?? [])].reduce((a, [n]) => a + n, 0),
        decisions: histogram.reduce((a, b) => a + b, 0),
        decisionP50Ms: percentileMs(histogram, 0.5),
        decisionP95Ms: percentileMs(histogram, 0.95),
        ...(groupBy === 'partner' ? { refusedByCode: refusals.get(group) ?? {} } : {}),
        ...(groupBy === 'source' ? { notificationsExhausted: exhausted.get(group) ?? 0 } : {}),
        acceptanceRate: summary.get(group)?.acceptanceRate ?? 0,
        returnRate: rate(c.returned, c.accepted),
        revenueByCurrency,
        // A partner earns on the leads it was offered; a source's leads earn on what it sent in.
        eplByCurrency: perLead(revenueByCurrency, groupBy === 'partner' ? offered : c.received),
        ...(auction ? { auction } : {}),
      };
    }),
  };
}

const emptyTotals = (): GroupTotals => ({
  counts: Object.fromEntries(CANONICAL_STATUSES.map((st) => [st, 0])) as Record<CanonicalStatus, number>,
  cents: new Map(),
  marks: new Map(),
});

/** A group's deciding-postback latencies: counts per LATENCY_BOUNDS_MS bucket. */
function latencyHistogram(marks: GroupMarks): number[] {
  const histogram = LATENCY_BOUNDS_MS.map(() => 0);
  for (const [status, byCurrency] of marks) {
    if (!status.startsWith(LATENCY)) continue;
    const i = Number(status.slice(LATENCY.length));
    for (const [n] of byCurrency.values()) histogram[i] = (histogram[i] ?? 0) + n;
  }
  return histogram;
}
