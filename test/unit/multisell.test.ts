// A shared lead's status and payout from its buyers' own verdicts (decision 0017).
import type { SharedBuyer } from '../../activities/types';
import { nextDeadline, sharedPartner, sharedPayout, sharedStatus } from '../../workflows/multisell';

const buyer = (status: SharedBuyer['status'], payoutCents = 100, expiresAt?: string): SharedBuyer => ({
  status,
  payoutCents,
  currency: 'USD',
  ...(expiresAt ? { expiresAt } : {}),
});

test.each([
  [['accepted', 'rejected'], 'accepted'],
  [['pending', 'accepted'], 'accepted'],
  [['returned', 'accepted'], 'accepted'],
  [['pending', 'rejected'], 'pending'],
  [['expired', 'pending'], 'pending'],
  [['returned', 'rejected'], 'returned'],
  [['expired', 'rejected'], 'expired'],
  [['returned', 'expired'], 'returned'],
  [['rejected', 'rejected'], 'rejected'],
] as const)('buyers %j make the lead %s', (statuses, lead) => {
  expect(sharedStatus(statuses.map((s) => buyer(s)))).toBe(lead);
});

test('the payout is what the accepted buyers pay, added up', () => {
  expect(sharedPayout([buyer('accepted', 725), buyer('accepted', 610), buyer('returned', 500)])).toBe(1335);
  expect(sharedPayout([buyer('pending', 725), buyer('rejected', 610)])).toBe(0);
});

test('the lead names its first accepted buyer, else its first', () => {
  const buyers = new Map([
    ['b', buyer('rejected')],
    ['c', buyer('accepted')],
  ]);
  expect(sharedPartner(buyers)).toBe('c');
  expect(sharedPartner(new Map([['b', buyer('pending')]]))).toBe('b');
});

test('the next deadline is the earliest of the pending buyers', () => {
  expect(
    nextDeadline([
      buyer('pending', 1, '2026-12-02T12:00:00.000Z'),
      buyer('pending', 1, '2026-12-02T11:00:00.000Z'),
      buyer('expired', 1),
    ]),
  ).toBe(Date.parse('2026-12-02T11:00:00.000Z'));
  expect(nextDeadline([buyer('accepted'), buyer('rejected')])).toBeUndefined();
});
