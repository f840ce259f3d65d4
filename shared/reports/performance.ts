// Partner and source performance (GET /reports/partners, /reports/sources): the summary's counts and revenue per
// group with the rates a router decides by. The same read model as the summary, so the same cost.
import type { PerformanceQuery, PerformanceReport } from '../http';
import { PostbackLog } from '../models';
import { fromCents, toCents } from '../money';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../statuses';
import { NONE } from './events';
import { reportRows, windowTally, type SummaryOptions } from './summary';
import { DUPLICATE } from './tally';

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
  const refusals = groupBy === 'partner' ? await refusalsByPartner(from, to) : new Map<string, never>();
  // A partner whose only traffic in the window was refused postbacks still gets its row.
  for (const partner of refusals.keys())
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
        ...(groupBy === 'partner' ? { refusedByCode: refusals.get(r.group) ?? {} } : {}),
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
