// Partner and source performance (GET /reports/partners, /reports/sources): the summary's counts and revenue per
// group with the rates a router decides by. The same read model as the summary, so the same cost.
import type { PerformanceQuery, PerformanceReport } from '../http';
import { fromCents, toCents } from '../money';
import { reportRows, windowTally, type SummaryOptions } from './summary';
import { DUPLICATE } from './tally';

const rate = (n: number, of: number) => (of ? Math.round((n / of) * 10_000) / 10_000 : 0);

export async function performanceReport(
  groupBy: 'partner' | 'source',
  query: PerformanceQuery,
  now: Date,
  options: SummaryOptions = {},
): Promise<PerformanceReport> {
  const { from, to, tally } = await windowTally({ ...query, groupBy }, now, options);
  const duplicates = new Map<string, number>();
  for (const [group, status, n] of tally.toCells())
    if (status === DUPLICATE) duplicates.set(group, (duplicates.get(group) ?? 0) + n);
  const groups = reportRows(tally);
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
