// A shared lead (multisell, `routing.auction.winners` > 1): what its buyers' own verdicts make of the lead.
// Pure, so the rule of decision 0017 is unit-tested apart from the workflow.
import type { SharedBuyer } from '../activities/types';
import type { CanonicalStatus } from '../shared/statuses';

/**
 * The lead's status from its buyers' (decision 0017): accepted when any buyer accepted it; else pending while a
 * verdict is awaited; else returned when a sale was reversed; else expired when a buyer let its deadline pass;
 * else rejected.
 */
export function sharedStatus(buyers: Iterable<SharedBuyer>): CanonicalStatus {
  const statuses = new Set([...buyers].map((b) => b.status));
  for (const s of ['accepted', 'pending', 'returned', 'expired'] as const) if (statuses.has(s)) return s;
  return 'rejected';
}

/** The lead's payout: the sum of what its accepted buyers pay (all in the auction's currency). */
export function sharedPayout(buyers: Iterable<SharedBuyer>): number {
  let cents = 0;
  for (const b of buyers) if (b.status === 'accepted') cents += b.payoutCents;
  return cents;
}

/** The partner the lead document names: the first buyer (best bid) that accepted, else the first buyer. */
export function sharedPartner(buyers: Map<string, SharedBuyer>): string {
  for (const [partnerId, b] of buyers) if (b.status === 'accepted') return partnerId;
  return [...buyers.keys()][0] as string;
}

/** The earliest deadline among buyers still pending (epoch ms), or undefined when none is. */
export function nextDeadline(buyers: Iterable<SharedBuyer>): number | undefined {
  const due = [...buyers].filter((b) => b.status === 'pending').map((b) => Date.parse(b.expiresAt ?? ''));
  return due.length ? Math.min(...due.map((t) => (Number.isNaN(t) ? 0 : t))) : undefined;
}
