// The figures a report row computes from its group's marks: leads offered, the auction's pings, bids and wins,
// and earnings per lead. Pure: amounts per currency in, decimal strings per currency out, never added across.
import type { AuctionFigures } from '../http';
import { fromCents, toCents } from '../money';
import { BID, OFFERED, PING, POST_REFUSED, WON } from './tally';

/** A group's marks: per mark, its count and, per currency, [count, cents] ('' for marks without an amount). */
export type GroupMarks = Map<string, Map<string, [number, number]>>;

export function addMark(marks: GroupMarks, status: string, n: number, cents: number, currency = ''): void {
  const byCurrency = marks.get(status) ?? new Map<string, [number, number]>();
  const cell = byCurrency.get(currency) ?? [0, 0];
  cell[0] += n;
  cell[1] += cents;
  byCurrency.set(currency, cell);
  marks.set(status, byCurrency);
}

const countOf = (marks: GroupMarks, status: string) =>
  [...(marks.get(status)?.values() ?? [])].reduce((a, [n]) => a + n, 0);

const rate = (n: number, of: number) => (of ? Math.round((n / of) * 10_000) / 10_000 : 0);

/** Leads offered to the partner (first delivery attempts, posts on a winning bid included). */
export const offeredOf = (marks: GroupMarks) => countOf(marks, OFFERED) + countOf(marks, WON);

/**
 * Pings, bids, wins, win rate (wins of bids), total and average bid per currency, and posts refused after
 * winning; undefined for a group that was never pinged.
 */
export function auctionFigures(marks: GroupMarks): AuctionFigures | undefined {
  const bids = countOf(marks, BID);
  const pings = bids + countOf(marks, PING);
  if (!pings) return undefined;
  const wins = countOf(marks, WON);
  const byCurrency = [...(marks.get(BID)?.entries() ?? [])]
    .filter(([currency]) => currency !== '')
    .sort(([a], [b]) => a.localeCompare(b));
  return {
    pings,
    bids,
    wins,
    winRate: rate(wins, bids),
    bidTotalByCurrency: Object.fromEntries(byCurrency.map(([c, [, cents]]) => [c, fromCents(cents)])),
    bidAverageByCurrency: Object.fromEntries(
      byCurrency.map(([c, [n, cents]]) => [c, fromCents(Math.round(cents / n))]),
    ),
    postsRefused: countOf(marks, POST_REFUSED),
  };
}

/** Earnings per lead: each currency's amount over `leads`, rounded to the cent; none when there were no leads. */
export function perLead(byCurrency: Record<string, string>, leads: number): Record<string, string> {
  if (!leads) return {};
  return Object.fromEntries(
    Object.entries(byCurrency).map(([c, amount]) => [c, fromCents(Math.round(toCents(amount) / leads))]),
  );
}
