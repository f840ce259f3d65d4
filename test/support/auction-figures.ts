// An auction's figures as the reports give them, written in one line: the counts by name, then the bids per
// currency as [total, average].
import type { AuctionFigures } from '../../shared/http';

type Counts = Omit<AuctionFigures, 'bidTotalByCurrency' | 'bidAverageByCurrency'>;

export function auctionOf(counts: Counts, bidsByCurrency: Record<string, [string, string]>): AuctionFigures {
  const byCurrency = (i: 0 | 1) =>
    Object.fromEntries(Object.entries(bidsByCurrency).map(([currency, pair]) => [currency, pair[i]]));
  return { ...counts, bidTotalByCurrency: byCurrency(0), bidAverageByCurrency: byCurrency(1) };
}
