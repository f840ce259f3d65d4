// GET /reports/summary: status counts, acceptance rate and revenue per source or partner over a time window.
// Counted by event time from the insert-only status events: a lead accepted today counts today.
import type { z } from 'zod';
import { StatusEvent } from '../../shared/models';
import { fromCents } from '../../shared/money';
import type { reportQuerySchema, reportSchema } from '../../shared/schemas';
import { CANONICAL_STATUSES, type CanonicalStatus } from '../../shared/statuses';

type ReportQuery = z.infer<typeof reportQuerySchema>;
type Report = z.infer<typeof reportSchema>;

const DAY_MS = 86_400_000;

export async function summaryReport(query: ReportQuery, now: Date): Promise<Report> {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DAY_MS);
  const field = query.groupBy === 'partner' ? '$partnerId' : '$sourceId';
  const match = { $match: { at: { $gte: from, $lt: to } } };
  // Two single-accumulator pipelines: the portable subset every MongoDB-wire server runs the same way.
  const [counts, revenue] = await Promise.all([
    StatusEvent.aggregate<{ _id: { g: string | null; s: CanonicalStatus }; n: number }>([match, { $group: { _id: { g: field, s: '$status' }, n: { $sum: 1 } } }]),
    StatusEvent.aggregate<{ _id: string | null; cents: number }>([
      { $match: { at: { $gte: from, $lt: to }, revenueDeltaCents: { $ne: 0 } } },
      { $group: { _id: field, cents: { $sum: '$revenueDeltaCents' } } },
    ]),
  ]);
  const rows = new Map<string, { counts: Record<CanonicalStatus, number>; cents: number }>();
  const row = (g: string | null) => {
    const key = g ?? '(none)';
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { counts: Object.fromEntries(CANONICAL_STATUSES.map((s) => [s, 0])) as Record<CanonicalStatus, number>, cents: 0 }));
    return r;
  };
  for (const c of counts) row(c._id.g).counts[c._id.s] += c.n;
  for (const r of revenue) row(r._id).cents += r.cents;
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    groupBy: query.groupBy,
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
