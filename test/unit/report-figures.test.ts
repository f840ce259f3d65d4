// The reports' figures from marks: which log lines are marks, leads offered, the auction's figures per currency,
// earnings per lead, marks kept out of revenue, and the merge of streams in time order.
import { addMark, auctionFigures, offeredOf, perLead, type GroupMarks } from '../../shared/reports/figures';
import type { Counted } from '../../shared/reports/events';
import { bidMark, deliveryMarks, mergeInOrder } from '../../shared/reports/marks';
import { groupTotals, reportRows } from '../../shared/reports/summary';
import { addEvent, BID, OFFERED, PING, POST_REFUSED, Tally, WON } from '../../shared/reports/tally';
import { auctionOf } from '../support/auction-figures';

const at = new Date('2026-12-01T10:00:00Z');

describe('marks from the logs', () => {
  const delivery = { leadId: 'L1', partnerId: 'acme', sourceId: 'src-1', at };

  test('a first attempt is an offer, a won one when it carries a ping id; retries and skips are not', () => {
    expect(deliveryMarks({ ...delivery, attempt: 1, outcome: 'pending' }).map((m) => m.status)).toEqual([
      OFFERED,
    ]);
    expect(deliveryMarks({ ...delivery, attempt: 1, pingId: 'p1', outcome: 'accepted' })).toEqual([
      {
        _id: 'mark:offer:L1:acme',
        t: at.getTime(),
        sourceId: 'src-1',
        partnerId: 'acme',
        status: WON,
        cents: 0,
        currency: '',
      },
    ]);
    expect(deliveryMarks({ ...delivery, attempt: 2, outcome: 'accepted' })).toEqual([]);
    expect(deliveryMarks({ ...delivery, attempt: 0, outcome: 'skipped' })).toEqual([]);
  });

  test('a rejected post on a winning bid is a refused post too; a rejected plain delivery is not', () => {
    expect(
      deliveryMarks({ ...delivery, attempt: 1, pingId: 'p1', outcome: 'rejected' }).map((m) => [
        m._id,
        m.status,
      ]),
    ).toEqual([
      ['mark:offer:L1:acme', WON],
      ['mark:refused:L1:acme', POST_REFUSED],
    ]);
    expect(
      deliveryMarks({ ...delivery, attempt: 2, pingId: 'p1', outcome: 'rejected' }).map((m) => m.status),
    ).toEqual([POST_REFUSED]);
    expect(deliveryMarks({ ...delivery, attempt: 1, outcome: 'rejected' }).map((m) => m.status)).toEqual([
      OFFERED,
    ]);
  });

  test('a ping: a bid with its amount and currency, or a ping without one', () => {
    const ping = { leadId: 'L1', partnerId: 'acme', at };
    expect(bidMark({ ...ping, outcome: 'bid', bidCents: 725, currency: 'EUR' })).toMatchObject({
      _id: 'mark:ping:L1:acme',
      status: BID,
      cents: 725,
      currency: 'EUR',
      sourceId: null,
    });
    for (const outcome of ['refused', 'timeout', 'error'])
      expect(bidMark({ ...ping, outcome, bidCents: 100, currency: 'USD' })).toMatchObject({
        status: PING,
        cents: 0,
        currency: '',
      });
  });
});

describe('figures of a group', () => {
  const marks = (cells: [string, number, number, string?][]): GroupMarks => {
    const m: GroupMarks = new Map();
    for (const [status, n, cents, currency] of cells) addMark(m, status, n, cents, currency);
    return m;
  };

  test('offered counts plain offers and won posts', () => {
    expect(
      offeredOf(
        marks([
          [OFFERED, 3, 0],
          [WON, 2, 0],
          [BID, 5, 900, 'USD'],
        ]),
      ),
    ).toBe(5);
    expect(offeredOf(new Map())).toBe(0);
  });

  test('auction figures: totals and averages per currency, never added across; win rate of bids', () => {
    expect(
      auctionFigures(
        marks([
          [BID, 2, 1300, 'USD'],
          [BID, 1, 600, 'EUR'],
          [BID, 1, 50, 'USD'],
          [PING, 2, 0],
          [WON, 1, 0],
          [OFFERED, 4, 0],
          [POST_REFUSED, 1, 0],
        ]),
      ),
    ).toEqual(
      auctionOf(
        { pings: 6, bids: 4, wins: 1, winRate: 0.25, postsRefused: 1 },
        { EUR: ['6.00', '6.00'], USD: ['13.50', '4.50'] },
      ),
    );
  });

  test('the average bid is rounded to the cent; a group never pinged has no auction figures', () => {
    expect(auctionFigures(marks([[BID, 3, 1000, 'USD']]))?.bidAverageByCurrency).toEqual({ USD: '3.33' });
    expect(auctionFigures(marks([[PING, 1, 0]]))).toMatchObject({ pings: 1, bids: 0, winRate: 0 });
    expect(auctionFigures(marks([[OFFERED, 4, 0]]))).toBeUndefined();
  });

  test('earnings per lead: per currency, to the cent, negative too; none without leads', () => {
    expect(perLead({ USD: '11.50', EUR: '3.00' }, 3)).toEqual({ USD: '3.83', EUR: '1.00' });
    expect(perLead({ USD: '-7.26' }, 2)).toEqual({ USD: '-3.63' });
    expect(perLead({ USD: '5.00' }, 0)).toEqual({});
  });

  test('bids are no revenue: a row adds up only what its statuses moved', () => {
    const tally = new Tally();
    const event = (status: string, cents: number, currency: string): Counted => ({
      t: 0,
      sourceId: 'src-1',
      partnerId: 'acme',
      status,
      cents,
      currency,
    });
    addEvent(tally, 'acme', event('accepted', 400, 'USD'));
    addEvent(tally, 'acme', event(BID, 900, 'USD'));
    addEvent(tally, 'acme', event(WON, 0, ''));
    const totals = groupTotals(tally).get('acme');
    expect(totals?.counts.accepted).toBe(1);
    expect([...(totals?.cents ?? [])]).toEqual([['USD', 400]]);
    const [row] = reportRows(tally, 'partner');
    expect(row).toMatchObject({ revenueByCurrency: { USD: '4.00' }, auction: { bids: 1, wins: 1 } });
    expect(reportRows(tally, 'source')[0]?.auction).toBeUndefined();
  });
});

test('streams in time order merge into one in time order', async () => {
  async function* stream(ts: number[]) {
    for (const t of ts) yield { t, status: String(t) } as Counted;
  }
  const merged: number[] = [];
  for await (const e of mergeInOrder([stream([1, 4, 4, 9]), stream([]), stream([0, 4, 10]), stream([2])]))
    merged.push(e.t);
  expect(merged).toEqual([0, 1, 2, 4, 4, 4, 9, 10]);
});
