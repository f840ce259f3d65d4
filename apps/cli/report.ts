// `leadrouter report`: partner or source performance as a terminal table, one row per partner or source.
import type { PerformanceReport } from '../../shared/http';

const money = (byCurrency: Record<string, string>) =>
  Object.entries(byCurrency)
    .map(([currency, amount]) => `${amount} ${currency}`)
    .join(', ') || '-';

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/** Columns padded to their widest cell; amounts always with their currency, never added across currencies. */
export function formatPerformance(report: PerformanceReport): string {
  const header = [
    report.groupBy,
    'delivered',
    'accepted',
    'rejected',
    'expired',
    'returned',
    'failed',
    'accept%',
    'return%',
    'revenue',
    'EPL',
  ];
  const rows = report.rows.map((r) => [
    r.group,
    String(r.delivered),
    String(r.accepted),
    String(r.rejected),
    String(r.expired),
    String(r.returned),
    String(r.failed),
    percent(r.acceptanceRate),
    percent(r.returnRate),
    money(r.revenueByCurrency),
    money(r.eplByCurrency),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Names and amounts read left-aligned, counts and rates right-aligned.
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i >= 9 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    `${report.groupBy} performance ${report.from} .. ${report.to}`,
    line(header),
    ...(rows.length ? rows.map(line) : ['(no events in this window)']),
  ].join('\n');
}
