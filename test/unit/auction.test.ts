// The auction without servers: how pings' answers are read (exact cents, refusals with reasons) and ranked
// (highest first, floor, currency, ties by priority then at random), and what a ping may carry.
import fc from 'fast-check';
import { buildPingBody, readPingAnswer } from '../../activities/ping';
import type { PingResult, RouteCandidate } from '../../activities/types';
import { parseRoutingConfig, type PartnerConfig } from '../../shared/config';
import { rankBids } from '../../workflows/auction';
import { parsedPartner } from '../support/partner-config';

const partner = (ping: Record<string, unknown> = {}): PartnerConfig =>
  parsedPartner({
    ping: {
      url: 'http://127.0.0.1:1/ping',
      fields: ['vertical', 'geo.state'],
      response: { bidPath: 'bid.amount', pingIdPath: 'id', reasonPath: 'why' },
      ...ping,
    },
  });

const answer = (p: PartnerConfig, body: unknown) =>
  readPingAnswer(
    p,
    p.ping as NonNullable<PartnerConfig['ping']>,
    typeof body === 'string' ? body : JSON.stringify(body),
  );

describe('readPingAnswer', () => {
  test('a bid is read exactly, as integer cents, in the partner currency unless the answer names one', () => {
    const p = partner();
    expect(answer(p, { bid: { amount: '12.345' }, id: 'x1' })).toEqual({
      outcome: 'bid',
      bidCents: 1235,
      currency: 'USD',
      pingId: 'x1',
    });
    expect(answer(p, { bid: { amount: 0.1 }, id: 7 })).toMatchObject({ bidCents: 10, pingId: '7' });
    const withCurrency = partner({
      response: { bidPath: 'bid', pingIdPath: 'id', currencyPath: 'cur' },
    });
    expect(answer(withCurrency, { bid: '3', id: 'a', cur: 'eur' })).toMatchObject({
      bidCents: 300,
      currency: 'EUR',
    });
  });

  test('refusals carry a reason: declined, no bid, unreadable, negative, zero, no ping id, not JSON', () => {
    const p = partner();
    expect(answer(p, { why: 'over budget' })).toEqual({ outcome: 'refused', reason: 'over budget' });
    expect(answer(p, { bid: { amount: '1e3' }, id: 'x' })).toMatchObject({
      outcome: 'refused',
      reason: /unreadable/,
    });
    expect(answer(p, { bid: { amount: '-2' }, id: 'x' })).toMatchObject({ outcome: 'refused' });
    expect(answer(p, { bid: { amount: 0 }, id: 'x' })).toMatchObject({
      outcome: 'refused',
      reason: 'bid of 0',
    });
    expect(answer(p, { bid: { amount: 2 } })).toEqual({
      outcome: 'refused',
      reason: 'bid without a ping id',
    });
    expect(answer(p, 'not json')).toMatchObject({ outcome: 'refused' });
    expect(answer(p, { bid: { amount: { x: 1 } }, id: 'x' })).toMatchObject({ outcome: 'refused' });
  });

  test('acceptedPath and acceptedPattern decide whether the answer is a bid at all', () => {
    const byPath = partner({
      response: { bidPath: 'bid', pingIdPath: 'id', acceptedPath: 'ok', reasonPath: 'why' },
    });
    expect(answer(byPath, { ok: false, bid: 5, id: 'x', why: 'dup' })).toEqual({
      outcome: 'refused',
      reason: 'dup',
    });
    expect(answer(byPath, { ok: 'yes', bid: 5, id: 'x' })).toMatchObject({ outcome: 'bid', bidCents: 500 });
    const byPattern = partner({
      response: { bidPath: 'bid', pingIdPath: 'id', acceptedPattern: '"result":"BID"' },
    });
    expect(answer(byPattern, { result: 'NO', bid: 5, id: 'x' })).toMatchObject({ outcome: 'refused' });
    expect(answer(byPattern, { result: 'BID', bid: 5, id: 'x' })).toMatchObject({ outcome: 'bid' });
  });

  test('the ping carries only the listed fields, nested at their paths', () => {
    const p = partner();
    const lead = { vertical: 'auto', geo: { state: 'CA', zip: '9' }, contact: { email: 'e@x.io' } };
    expect(buildPingBody(p.ping as NonNullable<PartnerConfig['ping']>, lead)).toEqual({
      vertical: 'auto',
      geo: { state: 'CA' },
    });
  });

  test('config: auction defaults, a floor in cents, and GET pings only as form', () => {
    const cfg = parseRoutingConfig({
      partners: [{ id: 'p', delivery: { url: 'http://x.io/l' }, postback: { token: 'token-123456' } }],
      sources: [{ id: 's', apiKey: 'key-s-abcdefg' }],
      routing: { auction: { floor: '2.50' } },
    });
    expect(cfg.routing.auction).toMatchObject({ timeoutMs: 1000, floorCents: 250, currency: 'USD' });
    expect(cfg.partners[0]?.delivery.pingIdField).toBe('pingId');
    expect(() => partner({ method: 'GET', format: 'json' })).toThrow(/GET ping/);
  });
});

function candidate(partnerId: string, priority = 1): RouteCandidate {
  return {
    partnerId,
    priority,
    weight: 100,
    deliveryTimeoutMs: 1000,
    deliveryMaxAttempts: 1,
    postbackTimeoutMs: 1000,
    allowResale: false,
    currency: 'USD',
    ping: { bidValidityMs: 60_000 },
  };
}

const bid = (partnerId: string, bidCents: number, currency = 'USD'): PingResult => ({
  partnerId,
  outcome: 'bid',
  bidCents,
  currency,
  pingId: `ping-${partnerId}`,
  latencyMs: 5,
  at: '2026-01-01T00:00:00.000Z',
});

const RULES = { timeoutMs: 1000, floorCents: 100, currency: 'USD', pingedAt: 1_000 };

describe('rankBids', () => {
  test('highest first; refused below the floor, in another currency, or without a bid', () => {
    const cands = ['a', 'b', 'c', 'd', 'e'].map((id) => candidate(id));
    const results: PingResult[] = [
      bid('a', 500),
      bid('b', 900),
      bid('c', 99),
      bid('d', 2000, 'EUR'),
      { partnerId: 'e', outcome: 'timeout', reason: 'no answer within 1000 ms', latencyMs: 1000, at: '' },
    ];
    const v = rankBids(results, cands, RULES, () => 0.5);
    expect(v.ranked.map((r) => [r.candidate.partnerId, r.bidCents, r.pingId, r.validUntil])).toEqual([
      ['b', 900, 'ping-b', 61_000],
      ['a', 500, 'ping-a', 61_000],
    ]);
    expect(v.refused).toEqual([
      { partnerId: 'c', reason: 'bid 99 below the floor of 100' },
      { partnerId: 'd', reason: 'bid in EUR, the auction is in USD' },
      { partnerId: 'e', reason: 'no answer within 1000 ms' },
    ]);
  });

  test('refused: an answer from a partner not pinged for this lead, a bid without an amount or ping id, an answer without a reason', () => {
    const noPing = { ...candidate('plain'), ping: undefined };
    const results: PingResult[] = [
      bid('gone', 900), // its partner left the config between the ping and the verdict
      bid('plain', 900), // a candidate, but not a ping partner
      { ...bid('a', 900), bidCents: undefined },
      { ...bid('b', 900), pingId: undefined },
      { partnerId: 'c', outcome: 'error', latencyMs: 3, at: '' },
      bid('d', 100), // exactly the floor: valid
    ];
    const v = rankBids(
      results,
      [noPing, ...['a', 'b', 'c', 'd'].map((id) => candidate(id))],
      RULES,
      () => 0.5,
    );
    expect(v.ranked.map((r) => r.candidate.partnerId)).toEqual(['d']);
    expect(v.refused).toEqual([
      { partnerId: 'gone', reason: 'not a ping partner of this lead' },
      { partnerId: 'plain', reason: 'not a ping partner of this lead' },
      { partnerId: 'a', reason: 'bid without an amount or ping id' },
      { partnerId: 'b', reason: 'bid without an amount or ping id' },
      { partnerId: 'c', reason: 'error' },
    ]);
  });

  test('ties: higher priority first; equal priority at random, each side about half the time (seeded)', () => {
    const tied = [bid('a', 700), bid('b', 700)];
    expect(
      rankBids(tied, [candidate('a', 2), candidate('b', 1)], RULES, Math.random).ranked[0]?.candidate
        .partnerId,
    ).toBe('b');
    let seed = 20261202;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let aFirst = 0;
    for (let i = 0; i < 1000; i++)
      if (
        rankBids(tied, [candidate('a'), candidate('b')], RULES, random).ranked[0]?.candidate.partnerId === 'a'
      )
        aFirst += 1;
    expect(aFirst).toBeGreaterThan(400);
    expect(aFirst).toBeLessThan(600);
  });

  test('property: the order is by bid, every valid bid is ranked once, and the random source only breaks ties', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ cents: fc.integer({ min: 0, max: 5000 }), priority: fc.integer({ min: 1, max: 3 }) }),
          {
            maxLength: 8,
          },
        ),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (specs, r) => {
          const cands = specs.map((s, i) => candidate(`p${i}`, s.priority));
          const results = specs.map((s, i) => bid(`p${i}`, s.cents));
          const v = rankBids(results, cands, RULES, () => r);
          const cents = v.ranked.map((b) => b.bidCents);
          expect(cents).toEqual([...cents].sort((x, y) => y - x));
          expect(v.ranked.length + v.refused.length).toBe(specs.length);
          expect(v.ranked.every((b) => b.bidCents >= RULES.floorCents)).toBe(true);
        },
      ),
    );
  });
});
