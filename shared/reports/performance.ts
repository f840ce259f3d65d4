// Partner and source performance (GET /reports/partners, /reports/sources): the summary's counts and revenue per
// group with the rates a router decides by. The same read model as the summary, so the same cost.
import type { PerformanceQuery, PerformanceReport } from '../http';
import { Notification, PostbackLog } from '../models';
import { fromCents, toCents } from '../money';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../statuses';
import { NONE } from './events';
import { reportRows, windowTally, type SummaryOptions } from './summary';
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
  const duplicates = new Map<string, number>();
  const latencies = new Map<string, number[]>();
  for (const [group, status, n] of tally.toCells()) {
    if (status === DUPLICATE) duplicates.set(group, (duplicates.get(group) ?? 0) + n);
    if (status.startsWith(LATENCY)) {
      const histogram = latencies.get(group) ?? LATENCY_BOUNDS_MS.map(() => 0);
      const i = Number(status.slice(LATENCY.length));
      histogram[i] = (histogram[i] ?? 0) + n;
      latencies.set(group, histogram);
    }
  }
  const groups = reportRows(tally);
  const refusals = groupBy === 'partner' ? await refusalsByPartner(from, to) : new Map<string, never>();
  const exhausted = groupBy === 'source' ? await exhaustedBySource(from, to) : new Map<string, number>();
  // A partner (source) whose only traffic in the window was refused postbacks (exhausted notifications) still
  // gets its row.
  for (const partner of [...refusals.keys(), ...exhausted.keys()])
    if (!groups.some((r) => r.group === partner))
      groups.push({
        group: partner,
        counts: Object.fromEntries(CANONICAL_STATUSES.map((st) => [st, 0])) as Record<
          CanonicalStatus,
          number
        >,
        acceptanceRate: 0,
        revenueByCurrency: {},
      });
  groups.sort((a, b) => a.group.localeCompare(b.group));
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    groupBy,
    rows: groups.map((r) => {
      const c = r.counts;
      // Leads the partner decided on, or let expire: what it was given a chance to earn on.
      const decided = (c.accepted ?? 0) + (c.rejected ?? 0) + (c.expired ?? 0);
      return {
        group: r.group,
        delivered: c.pending ?? 0,
        accepted: c.accepted ?? 0,
        rejected: c.rejected ?? 0,
        expired: c.expired ?? 0,
        returned: c.returned ?? 0,
        failed: c.failed ?? 0,
        duplicates: duplicates.get(r.group) ?? 0,
        decisions: (latencies.get(r.group) ?? []).reduce((a, b) => a + b, 0),
        decisionP50Ms: percentileMs(latencies.get(r.group) ?? [], 0.5),
        decisionP95Ms: percentileMs(latencies.get(r.group) ?? [], 0.95),
        ...(groupBy === 'partner' ? { refusedByCode: refusals.get(r.group) ?? {} } : {}),
        ...(groupBy === 'source' ? { notificationsExhausted: exhausted.get(r.group) ?? 0 } : {}),
        acceptanceRate: r.acceptanceRate,
        returnRate: rate(c.returned ?? 0, c.accepted ?? 0),
        revenueByCurrency: r.revenueByCurrency,
        eplByCurrency: Object.fromEntries(
          Object.entries(r.revenueByCurrency).map(([cur, amount]) => [
            cur,
            fromCents(decided ? Math.round(toCents(amount) / decided) : 0),
          ]),
        ),
      };
    }),
  };
}
