// Routing rules without servers: filters, active hours in a partner's time zone, cap periods, and the
// partner order (priority waterfall, weighted shuffle among equal priorities).
import { capPeriods, failedFilter, withinActiveHours } from '../../activities/routing';
import type { RouteCandidate } from '../../activities/types';
import type { PartnerConfig } from '../../shared/config';
import { orderCandidates } from '../../workflows/routing';
import { parsedPartner } from '../support/partner-config';

const partner = (routing: Record<string, unknown> = {}): PartnerConfig => parsedPartner({ routing });

/** mulberry32: a small seeded PRNG, so the statistical tests are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function candidate(partnerId: string, priority: number, weight: number): RouteCandidate {
  return {
    partnerId,
    priority,
    weight,
    deliveryTimeoutMs: 1000,
    deliveryMaxAttempts: 1,
    postbackTimeoutMs: 1000,
    allowResale: false,
    currency: 'USD',
  };
}

describe('failedFilter', () => {
  const lead = {
    vertical: 'auto',
    geo: { country: 'US', state: 'CA', zip: '94107' },
    data: { loanAmount: 5000, owner: true, plan: 'Gold' },
  };

  test('a partner without filters takes any lead, even an empty one', () => {
    expect(failedFilter(partner(), lead)).toBeUndefined();
    expect(failedFilter(partner(), {})).toBeUndefined();
  });

  test('vertical, country and state match case-insensitively', () => {
    expect(
      failedFilter(
        partner({ filters: { vertical: ['AUTO', 'home'], country: ['us'], state: ['ca', 'ny'] } }),
        lead,
      ),
    ).toBeUndefined();
    expect(failedFilter(partner({ filters: { vertical: ['home'] } }), lead)).toBe('vertical');
    expect(failedFilter(partner({ filters: { country: ['CA'] } }), lead)).toBe('country');
    expect(failedFilter(partner({ filters: { state: ['NY'] } }), lead)).toBe('state');
  });

  test('a filter on a field the lead lacks rejects it', () => {
    expect(failedFilter(partner({ filters: { vertical: ['auto'] } }), { geo: { country: 'US' } })).toBe(
      'vertical',
    );
    expect(failedFilter(partner({ filters: { country: ['US'] } }), { vertical: 'auto' })).toBe('country');
    expect(failedFilter(partner({ filters: { zipPrefix: ['9'] } }), { vertical: 'auto' })).toBe('zip');
  });

  test('zip prefixes', () => {
    expect(failedFilter(partner({ filters: { zipPrefix: ['941', '100'] } }), lead)).toBeUndefined();
    expect(failedFilter(partner({ filters: { zipPrefix: ['100'] } }), lead)).toBe('zip');
  });

  test('any field by dot path, numbers and booleans compared as values', () => {
    expect(
      failedFilter(
        partner({ filters: { fields: { 'data.loanAmount': [5000, 10000], 'data.owner': [true] } } }),
        lead,
      ),
    ).toBeUndefined();
    expect(failedFilter(partner({ filters: { fields: { 'data.plan': ['gold'] } } }), lead)).toBeUndefined();
    expect(failedFilter(partner({ filters: { fields: { 'data.loanAmount': [1000] } } }), lead)).toBe(
      'data.loanAmount',
    );
    expect(failedFilter(partner({ filters: { fields: { 'data.missing': ['x'] } } }), lead)).toBe(
      'data.missing',
    );
  });

  test('the first failing filter is named', () => {
    expect(
      failedFilter(partner({ filters: { vertical: ['auto'], country: ['CA'], zipPrefix: ['1'] } }), lead),
    ).toBe('country');
  });
});

describe('withinActiveHours', () => {
  const at = (iso: string) => new Date(iso);
  const hours = (h: Record<string, unknown>) => partner({ activeHours: h }).routing.activeHours;

  test('no window: always active', () => {
    expect(withinActiveHours(undefined, at('2026-11-26T03:00:00Z'))).toBe(true);
  });

  test('a daytime window in UTC: from inclusive, to exclusive', () => {
    const h = hours({ from: '09:00', to: '17:00' });
    expect(withinActiveHours(h, at('2026-11-26T08:59:00Z'))).toBe(false);
    expect(withinActiveHours(h, at('2026-11-26T09:00:00Z'))).toBe(true);
    expect(withinActiveHours(h, at('2026-11-26T16:59:00Z'))).toBe(true);
    expect(withinActiveHours(h, at('2026-11-26T17:00:00Z'))).toBe(false);
  });

  test("the partner's time zone decides, daylight saving included", () => {
    // New York is UTC-5 in November and UTC-4 in July.
    const h = hours({ timezone: 'America/New_York', from: '09:00', to: '17:00' });
    expect(withinActiveHours(h, at('2026-11-26T13:59:00Z'))).toBe(false); // 08:59 EST
    expect(withinActiveHours(h, at('2026-11-26T14:00:00Z'))).toBe(true); // 09:00 EST
    expect(withinActiveHours(h, at('2026-07-15T13:00:00Z'))).toBe(true); // 09:00 EDT
    expect(withinActiveHours(h, at('2026-07-15T21:00:00Z'))).toBe(false); // 17:00 EDT
    // Tokyo (UTC+9): 01:00 UTC is 10:00 local.
    const tokyo = hours({ timezone: 'Asia/Tokyo', from: '09:00', to: '18:00' });
    expect(withinActiveHours(tokyo, at('2026-11-26T01:00:00Z'))).toBe(true);
    expect(withinActiveHours(tokyo, at('2026-11-26T10:00:00Z'))).toBe(false); // 19:00 local
  });

  test('the weekday is the local one, not the UTC one', () => {
    // 2026-11-27 is a Friday. 02:00 UTC Friday is 21:00 Thursday in New York.
    const weekdays = hours({ timezone: 'America/New_York', days: ['fri'], from: '00:00', to: '23:59' });
    expect(withinActiveHours(weekdays, at('2026-11-27T02:00:00Z'))).toBe(false);
    expect(withinActiveHours(weekdays, at('2026-11-27T15:00:00Z'))).toBe(true);
  });

  test('a window across midnight belongs to the day it starts on', () => {
    // Friday nights only, 22:00-06:00 in Berlin (UTC+1 in November). 2026-11-27 is a Friday.
    const h = hours({ timezone: 'Europe/Berlin', days: ['fri'], from: '22:00', to: '06:00' });
    expect(withinActiveHours(h, at('2026-11-27T20:59:00Z'))).toBe(false); // Fri 21:59
    expect(withinActiveHours(h, at('2026-11-27T21:00:00Z'))).toBe(true); // Fri 22:00
    expect(withinActiveHours(h, at('2026-11-27T23:30:00Z'))).toBe(true); // Sat 00:30, Friday's night
    expect(withinActiveHours(h, at('2026-11-28T04:59:00Z'))).toBe(true); // Sat 05:59
    expect(withinActiveHours(h, at('2026-11-28T05:00:00Z'))).toBe(false); // Sat 06:00
    expect(withinActiveHours(h, at('2026-11-27T01:00:00Z'))).toBe(false); // Fri 02:00 is Thursday's night
    expect(withinActiveHours(h, at('2026-11-28T21:30:00Z'))).toBe(false); // Sat 22:30
  });

  test('midnight itself', () => {
    const h = hours({ from: '00:00', to: '01:00' });
    expect(withinActiveHours(h, at('2026-11-26T00:00:00Z'))).toBe(true);
    expect(withinActiveHours(h, at('2026-11-25T23:59:59Z'))).toBe(false);
  });
});

describe('capPeriods', () => {
  test('daily and hourly caps count in UTC days and hours', () => {
    const p = partner({ dailyCap: 50, hourlyCap: 5 });
    expect(capPeriods(p, new Date('2026-11-26T23:59:59Z'))).toEqual([
      { period: 'd2026-11-26', cap: 50 },
      { period: 'h2026-11-26T23', cap: 5 },
    ]);
    expect(capPeriods(partner(), new Date())).toEqual([]);
  });
});

describe('orderCandidates', () => {
  test('lower priority number first, whatever the weights', () => {
    const order = orderCandidates(
      [candidate('late', 3, 1000), candidate('first', 1, 1), candidate('second', 2, 1)],
      seeded(1),
    );
    expect(order.map((c) => c.partnerId)).toEqual(['first', 'second', 'late']);
  });

  test('every candidate appears once; the same random source gives the same order (replay)', () => {
    const cands = [candidate('a', 1, 10), candidate('b', 1, 20), candidate('c', 2, 5), candidate('d', 1, 70)];
    const one = orderCandidates(cands, seeded(42)).map((c) => c.partnerId);
    const two = orderCandidates(cands, seeded(42)).map((c) => c.partnerId);
    expect(one).toEqual(two);
    expect([...one].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(one[3]).toBe('c');
    expect(orderCandidates([], seeded(1))).toEqual([]);
  });

  test('weights: over 10,000 draws each partner comes first in weight/sum of them (±0.02, 4 sigma)', () => {
    const random = seeded(20261126);
    const cands = [
      candidate('a', 1, 60),
      candidate('b', 1, 30),
      candidate('c', 1, 10),
      candidate('z', 2, 1000),
    ];
    const first = { a: 0, b: 0, c: 0, z: 0 };
    const bSecond = { n: 0 };
    const draws = 10_000;
    for (let i = 0; i < draws; i++) {
      const order = orderCandidates(cands, random).map((c) => c.partnerId);
      first[order[0] as keyof typeof first] += 1;
      if (order[1] === 'b') bSecond.n += 1;
      expect(order[3]).toBe('z');
    }
    expect(Math.abs(first.a / draws - 0.6)).toBeLessThan(0.02);
    expect(Math.abs(first.b / draws - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(first.c / draws - 0.1)).toBeLessThan(0.02);
    expect(first.z).toBe(0);
    // Drawn without replacement by weight: b is second when a (0.6 * 30/40) or c (0.1 * 30/90) came first.
    expect(Math.abs(bSecond.n / draws - (0.6 * 0.75 + 0.1 / 3))).toBeLessThan(0.02);
  });

  test('weight 0: never ahead of a weighted partner of its priority, still tried after them', () => {
    const random = seeded(11);
    for (let i = 0; i < 200; i++) {
      const order = orderCandidates(
        [candidate('off', 1, 0), candidate('a', 1, 1), candidate('b', 1, 1), candidate('next', 2, 5)],
        random,
      ).map((c) => c.partnerId);
      expect(order.slice(2)).toEqual(['off', 'next']);
    }
  });

  test('two equal weights split evenly', () => {
    const random = seeded(7);
    let a = 0;
    for (let i = 0; i < 10_000; i++)
      if (orderCandidates([candidate('a', 1, 5), candidate('b', 1, 5)], random)[0]?.partnerId === 'a') a += 1;
    expect(Math.abs(a / 10_000 - 0.5)).toBeLessThan(0.02);
  });
});
