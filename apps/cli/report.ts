// Terminal tables: partner or source performance (`leadrouter report`) and the postback log (`leadrouter postbacks`).
import type { PerformanceReport, PostbackLogEntry, RefusalSummary } from '../../shared/http';

const money = (byCurrency: Record<string, string>) =>
  Object.entries(byCurrency)
    .map(([currency, amount]) => `${amount} ${currency}`)
    .join(', ') || '-';

const seconds = (ms: number | null | undefined) => (ms == null ? '-' : `${(ms / 1000).toFixed(1)}s`);

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/** Columns padded to their widest cell; amounts always with their currency, never added across currencies. */
export function formatPerformance(report: PerformanceReport): string {
  const header = [
    report.groupBy,
    'offered',
    'delivered',
    'accepted',
    'rejected',
    'expired',
    'returned',
    'failed',
    'dupes',
    'refused',
    'exhausted',
    'decide-p50',
    'decide-p95',
    'accept%',
    'return%',
    'revenue',
    'EPL',
  ];
  const rows = report.rows.map((r) => [
    r.group,
    String(r.offered),
    String(r.delivered),
    String(r.accepted),
    String(r.rejected),
    String(r.expired),
    String(r.returned),
    String(r.failed),
    String(r.duplicates),
    r.refusedByCode ? String(Object.values(r.refusedByCode).reduce((a, b) => a + b, 0)) : '-',
    r.notificationsExhausted === undefined ? '-' : String(r.notificationsExhausted),
    seconds(r.decisionP50Ms),
    seconds(r.decisionP95Ms),
    percent(r.acceptanceRate),
    percent(r.returnRate),
    money(r.revenueByCurrency),
    money(r.eplByCurrency),
  ]);
  const auctions = report.rows.flatMap((r) =>
    r.auction
      ? [
          [
            r.group,
            String(r.auction.pings),
            String(r.auction.bids),
            String(r.auction.wins),
            percent(r.auction.winRate),
            String(r.auction.postsRefused),
            money(r.auction.bidTotalByCurrency),
            money(r.auction.bidAverageByCurrency),
          ],
        ]
      : [],
  );
  return [
    `${report.groupBy} performance ${report.from} .. ${report.to}`,
    ...table(header, rows, 15),
    ...(rows.length ? [] : ['(no events in this window)']),
    ...(auctions.length
      ? [
          '',
          'auctions',
          ...table(
            ['partner', 'pings', 'bids', 'wins', 'win%', 'refused-posts', 'bid-total', 'bid-avg'],
            auctions,
            6,
          ),
        ]
      : []),
  ].join('\n');
}

/**
 * Lines of a table, columns padded to their widest cell: names and amounts (the first column, and the columns
 * from `amountsFrom` on) left-aligned, counts and rates right-aligned.
 */
function table(header: string[], rows: string[][], amountsFrom: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i >= amountsFrom ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The postback log as a table, newest first: what came, what we made of it, and why a refusal was refused. */
export function formatPostbacks(entries: PostbackLogEntry[]): string[] {
  return entries.map((p) =>
    [
      p.receivedAt,
      (p.partnerId ?? '(unknown)').padEnd(12),
      p.outcome.padEnd(9),
      String(p.httpStatus ?? '').padEnd(3),
      (p.leadId ?? '-').padEnd(24),
      `${p.rawStatus ? `"${p.rawStatus}"` : '-'}${p.status ? ` -> ${p.status}` : ''}${p.payout ? ` ${p.payout} ${p.currency ?? ''}`.trimEnd() : ''}`,
      p.errorCode ? `${p.errorCode}: ${p.errorMessage ?? ''}`.trimEnd() : (p.reason ?? ''),
    ]
      .join('  ')
      .trimEnd(),
  );
}

export function formatRefusals(summary: RefusalSummary): string {
  if (!summary.rows.length) return `no refusals ${summary.from} .. ${summary.to}`;
  const width = Math.max(7, ...summary.rows.map((r) => r.partnerId.length));
  return [
    `refusals ${summary.from} .. ${summary.to}`,
    ...summary.rows.map((r) => `  ${r.partnerId.padEnd(width)}  ${String(r.count).padStart(6)}  ${r.code}`),
  ].join('\n');
}
